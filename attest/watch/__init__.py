"""The egress watch: what a rig tries to reach on the intake network, as evidence it cannot talk away.

Every other channel asks the firmware about itself or reads its bytes; a backdoor that hides well
there still has to phone home. On the intake bench the network is the station's: it answers every
DNS query with its own address (a sinkhole) and accepts the TCP connections that follow on the
ports the policy names, recording for each source address (and the MAC the kernel learnt for it)
the names looked up, the ports reached, the TLS server name and the first bytes, each bounded in
size and time. Nothing is ever answered beyond DNS and nothing is forwarded. ``Watch`` is the one
entry: started around a verify, its ``evidence_source`` folds each rig's behaviour into the rig's
evidence as ``observed`` claims; ``subscribe`` streams what it sees (``attest watch``).
"""

from attest.watch.observations import Connection, Lookup, Notice, Observation, SourceRecord, WatchLimits
from attest.watch.watch import DEFAULT_WINDOW_SECONDS, DNS_PORT, Watch, WatchError, parse_listen

__all__ = ["DEFAULT_WINDOW_SECONDS", "DNS_PORT", "Connection", "Lookup", "Notice", "Observation", "SourceRecord",
           "Watch", "WatchError", "WatchLimits", "parse_listen"]
