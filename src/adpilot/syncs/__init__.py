"""Entity and metric syncs outside optimizer runs: on connect and on each layer's cadence."""
