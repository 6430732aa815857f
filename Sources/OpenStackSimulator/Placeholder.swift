struct OpenStackSimulatorPlaceholder {}
