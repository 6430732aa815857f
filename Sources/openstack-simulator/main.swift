print("openstack-simulator: not implemented yet")
