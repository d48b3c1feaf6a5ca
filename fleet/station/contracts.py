"""The contract certificates Plug & Charge EVs present (ISO 15118): a real X.509 chain per
contract id (eMAID), so what a station sends a CSMS is what a CSMS can check, an OCSP request
per certificate (``hash_data``) or the chain itself (``chain``).

Made on first use, per process: a contract costs one key and one signature (~0.3 ms) the first
time one of its EVs arrives, and ~2 KB kept (the scenario bounds how many: ``contracts``).
Keys and serial numbers are derived from the names, not drawn: a contract is the same
certificate (its OCSP request data byte for byte) in every worker process and every run, as a
real EV's is, so a CSMS that caches OCSP answers sees what it would in the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fleet.certs import (
    Authority,
    certificate_pem,
    derived_key,
    derived_serial,
    issue,
    load_authority,
    new_authority,
)
from fleet.scenario_charging import PlugAndCharge
from fleet.station.certificates import hash_data

ROOT_NAME: Final = "fleet MO root"
SUB_CA_NAME: Final = "fleet MO sub-CA"


@dataclass(slots=True, frozen=True)
class Contract:
    emaid: str
    # OCSPRequestDataType of each certificate but the root, leaf first (at most 4 in 2.0.1).
    hash_data: tuple[dict[str, str], ...]
    chain: str  # PEM, leaf first, root left out


class Contracts:
    """The contracts one scenario's EVs hold: leaf certificates (CN = the eMAID) issued by the
    scenario's ``authority``, or by a sub-CA of a root fleet derives (the same everywhere)."""

    __slots__ = ("_issuer", "_kept", "_parents", "responder_url")

    def __init__(self, authority: Authority | None, responder_url: str) -> None:
        self.responder_url = responder_url
        self._parents: tuple[dict[str, str], ...]
        if authority is None:
            root = new_authority(
                name=ROOT_NAME,
                path_length=1,
                key=derived_key(ROOT_NAME),
                serial=derived_serial(ROOT_NAME),
            )
            sub_ca = new_authority(
                name=SUB_CA_NAME,
                issuer=root,
                key=derived_key(SUB_CA_NAME),
                serial=derived_serial(SUB_CA_NAME),
            )
            # The sub-CA's own OCSP request names the root as its issuer.
            self._parents = (self._ocsp(hash_data(sub_ca.certificate, root.key.public_key())),)
            authority = sub_ca
        else:  # its issuer (if any) is not known here: only the leaf's request is sent
            self._parents = ()
        self._issuer = authority
        self._kept: dict[str, Contract] = {}

    def of(self, emaid: str) -> Contract:
        """The contract ``emaid`` names, the same one each time within the process."""
        contract = self._kept.get(emaid)
        if contract is None:
            contract = self._kept[emaid] = self._make(emaid)
        return contract

    def _make(self, emaid: str) -> Contract:
        issuer = self._issuer
        # Named by its issuer too: another CA's contract of that id is another certificate.
        text = f"{issuer.certificate.subject.rfc4514_string()}:{emaid}"
        leaf = issue(issuer, emaid, derived_key(text).public_key(), serial=derived_serial(text))
        own = self._ocsp(hash_data(leaf, issuer.key.public_key()))
        chain = certificate_pem(leaf) + certificate_pem(issuer.certificate)
        return Contract(emaid, (own, *self._parents), chain.decode())

    def _ocsp(self, data: dict[str, str]) -> dict[str, str]:
        return {**data, "responderURL": self.responder_url}


_made: dict[tuple[str | None, str], Contracts] = {}


def contracts_for(config: PlugAndCharge) -> Contracts:
    """The process's contracts for a scenario's ``plug_and_charge``, made on first use."""
    key = (config.authority, config.responder_url)
    contracts = _made.get(key)
    if contracts is None:
        authority = None if config.authority is None else load_authority(Path(config.authority))
        contracts = _made[key] = Contracts(authority, config.responder_url)
    return contracts
