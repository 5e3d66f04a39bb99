"""Everything with a lifetime: supervisors, CLI sessions, leases, the bridge, commands."""
