struct CommandRunnerPlaceholder {}
