"""What the stations delivered against what the CSMS's ledger holds: the proof that an outage
lost nothing. Pure: given fleet's delivery counts (``FleetStats.delivery_json``) and the
transactions part of the embedded CSMS's ``GET /ledger``.

Every transaction message a station saw answered must be in the ledger once; the ledger may
hold more (a message whose answer was lost is sent again: a duplicate the CSMS recognises).
Missing messages, seqNo gaps, messages out of order and messages for transactions the CSMS never
saw start are what a CSMS that loses or mangles data shows.
"""

from __future__ import annotations

from typing import Any

from fleet.metrics.sample import DELIVERY_DELIVERED


def reconcile(delivery: dict[str, Any], ledgers: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary's "ledger" block, from the delivery table and each CSMS's transactions."""
    delivered = sum(row.get(DELIVERY_DELIVERED, 0) for row in delivery.values())
    received = sum(int(t.get("messages", 0)) for t in ledgers)
    duplicates = sum(int(t.get("duplicates", 0)) for t in ledgers)
    unknown = sum(sum(t.get("unknown", {}).values()) for t in ledgers)
    return {
        "delivered": delivered,
        "received": received + unknown,
        "duplicates": duplicates,
        "missing": max(delivered - (received - duplicates + unknown), 0),
        "seq_gaps": sum(int(t.get("seq_gaps", 0)) for t in ledgers),
        "out_of_order": sum(int(t.get("out_of_order", 0)) for t in ledgers),
        "unknown": unknown,
        "transactions": sum(int(t.get("count", 0)) for t in ledgers),
    }


def ledger_line(block: dict[str, Any] | None) -> str:
    if block is None:
        return "CSMS ledger: not compared (only the embedded CSMS, on a loopback address, is asked)"
    verdict = (
        "nothing lost"
        if not (block["missing"] or block["seq_gaps"] or block["out_of_order"] or block["unknown"])
        else "LOSS OR DISORDER"
    )
    return (
        f"CSMS ledger: {verdict}: {block['delivered']} transaction messages delivered, "
        f"{block['received']} received ({block['duplicates']} duplicates), "
        f"{block['missing']} missing, {block['seq_gaps']} seqNo gaps, "
        f"{block['out_of_order']} out of order, {block['unknown']} for unknown transactions"
    )
