"""The sinkhole's DNS: every query a rig sends is recorded and answered with the station's address.

Parsing and answering go through dnspython (chosen over dnslib: it is the more widely used and
maintained of the two, rejects malformed wire data with its own exception types, and builds
answers that follow the query's EDNS; see pyproject.toml). What arrives is a stranger's bytes:
a datagram larger than a query could be is not parsed, a source past its rate is counted and
neither parsed nor answered (so one flooding address cannot starve the rest or make us an
amplifier), and anything dnspython refuses is counted as malformed, never fatal. Only ``A`` (or
``AAAA`` for an IPv6 sinkhole) gets an address; any other type is answered with no data.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from attest.watch.observations import Lookup, ObservationLog, source_key

log = logging.getLogger(__name__)

#: Short, so a rig asks again (and is seen again) rather than caching the sinkhole for long.
ANSWER_TTL = 30


class DnsResponder(asyncio.DatagramProtocol):
    def __init__(self, sinkhole: str, observations: ObservationLog, mac_for: Callable[[str], str | None]) -> None:
        self.sinkhole = sinkhole
        self.answer_type = dns.rdatatype.AAAA if ":" in sinkhole else dns.rdatatype.A
        self.observations = observations
        self.limits = observations.limits
        self.mac_for = mac_for
        self.transport: asyncio.DatagramTransport | None = None
        self.answered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # 3.11's is no DatagramTransport subclass

    def error_received(self, exc: Exception) -> None:
        # An ICMP error about an earlier answer (the rig went away): nothing to do, keep serving.
        log.debug("DNS socket error: %s", exc)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        source = source_key(str(addr[0]))
        record = self.observations.source(source)
        if record is None:
            return
        if len(data) > self.limits.max_dns_packet:
            record.malformed += 1
            self.observations.notice(record, "malformed", "sent DNS packets that are not queries (malformed)")
            return
        if not record.take_query_token(time.monotonic(), self.limits):
            record.queries_over_rate += 1
            self.observations.notice(record, "rate", f"more than {self.limits.queries_per_second:g} DNS queries "
                                     "a second: the rest are counted, not read or answered")
            return
        try:
            query = dns.message.from_wire(data)
        except Exception:  # every byte is the device's: any refusal is "malformed", never fatal
            record.malformed += 1
            self.observations.notice(record, "malformed", "sent DNS packets that are not queries (malformed)")
            return
        reply = self._reply(query, source)
        if reply is None:
            record.malformed += 1
            self.observations.notice(record, "malformed", "sent DNS packets that are not queries (malformed)")
            return
        if self.transport is not None:
            self.transport.sendto(reply, addr)
            self.answered += 1

    def _reply(self, query: dns.message.Message, source: str) -> bytes | None:
        """The answer to send, having recorded the question; None for what is no query."""
        if query.flags & dns.flags.QR:
            return None  # a response sent to us
        try:
            response = dns.message.make_response(query)
        except dns.exception.DNSException:
            return None
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response.to_wire()
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        qtype = dns.rdatatype.to_text(question.rdtype)
        record = self.observations.source(source)
        if record is not None:
            self.observations.add_lookup(record, Lookup(time.time(), source, self.mac_for(source), name, qtype))
        response.flags |= dns.flags.AA
        if question.rdtype in (self.answer_type, dns.rdatatype.ANY) and question.rdclass == dns.rdataclass.IN:
            response.answer.append(dns.rrset.from_text(question.name, ANSWER_TTL, "IN",
                                                       dns.rdatatype.to_text(self.answer_type), self.sinkhole))
        try:
            return response.to_wire()
        except dns.exception.DNSException:
            return None
