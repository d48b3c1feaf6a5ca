"""A station's certificate store without sockets: which CertificateSigned chains it takes, and
the roots it installs, lists and deletes by hash data (``station.certificates``)."""

from __future__ import annotations

import datetime

from cryptography import x509

from fleet.certs import Authority, certificate_pem, issue, new_authority, new_key, sign_request
from fleet.csms.signing import signed_chain
from fleet.station.certificates import MAX_INSTALLED, CertificateStore, hash_data

NOW = datetime.datetime.now(datetime.UTC)


def _chain(authority: Authority, certificate: x509.Certificate) -> str:
    return (certificate_pem(certificate) + certificate_pem(authority.certificate)).decode()


def test_a_signed_chain_is_taken_only_for_this_station_its_key_and_now() -> None:
    ca = new_authority()
    store = CertificateStore("CP-1")
    assert store.signed("whatever", NOW) == ("Rejected", None)  # nothing was asked
    csr = x509.load_pem_x509_csr(store.request().encode())
    assert csr.is_signature_valid
    good = sign_request(ca, csr)

    other_key = issue(ca, "CP-1", new_key().public_key())
    assert store.signed(_chain(ca, other_key), NOW)[0] == "Rejected"  # not our key
    other_name = issue(ca, "CP-2", csr.public_key())  # type: ignore[arg-type]
    assert store.signed(_chain(ca, other_name), NOW)[0] == "Rejected"  # not our identity
    expired = issue(ca, "CP-1", csr.public_key(), expired=True)  # type: ignore[arg-type]
    assert store.signed(_chain(ca, expired), NOW)[0] == "Rejected"
    assert store.signed("-----BEGIN CERTIFICATE-----\nbroken", NOW)[0] == "Rejected"

    status, key = store.signed(_chain(ca, good), NOW)
    assert status == "Accepted" and key is not None and b"PRIVATE KEY" in key
    assert store.signed(_chain(ca, good), NOW)[0] == "Rejected"  # once per request


def test_the_v2g_certificate_is_asked_for_and_taken_apart_from_the_station_s_own() -> None:
    ca = new_authority()
    store = CertificateStore("CP-1")
    own = x509.load_pem_x509_csr(store.request().encode())
    v2g = x509.load_pem_x509_csr(store.request(v2g=True).encode())
    assert own.public_key() != v2g.public_key()  # two keys pending, neither replaces the other
    v2g_chain = _chain(ca, sign_request(ca, v2g))
    assert store.signed(v2g_chain, NOW)[0] == "Rejected"  # not the key of the station's CSR
    other = _chain(ca, issue(ca, "CP-1", new_key().public_key()))
    assert store.signed_v2g(other, NOW) == "Rejected"
    assert store.signed_v2g(v2g_chain, NOW) == "Accepted"
    assert store.v2g is not None and store.v2g[0].public_key() == v2g.public_key()
    assert store.signed_v2g(v2g_chain, NOW) == "Rejected"  # once per request
    assert store.signed(_chain(ca, sign_request(ca, own)), NOW)[0] == "Accepted"


def test_the_csms_signs_only_a_csr_for_the_station_that_sent_it() -> None:
    ca = new_authority()
    store = CertificateStore("CP-1")
    csr = store.request()
    chain = signed_chain(ca, csr, "CP-1")
    assert chain is not None and store.signed(chain, NOW)[0] == "Accepted"
    assert signed_chain(ca, CertificateStore("CP-1").request(), "CP-2") is None
    assert signed_chain(ca, "not a CSR", "CP-1") is None


def test_roots_are_installed_listed_and_deleted_by_hash_data() -> None:
    store = CertificateStore("CP-1")
    roots = [new_authority(name=f"root {n}").certificate for n in range(3)]
    assert store.install("CSMSRootCertificate", certificate_pem(roots[0]).decode()) == "Accepted"
    assert store.install("MORootCertificate", certificate_pem(roots[1]).decode()) == "Accepted"
    assert store.install("MORootCertificate", certificate_pem(roots[1]).decode()) == "Accepted"
    assert store.install("MORootCertificate", "garbage") == "Rejected"
    assert [i.kind for i in store.ids(None)] == ["CSMSRootCertificate", "MORootCertificate"]
    assert [i.kind for i in store.ids(["MORootCertificate"])] == ["MORootCertificate"]

    data = hash_data(roots[1])
    assert data["hashAlgorithm"] == "SHA256" and len(data["issuerNameHash"]) == 64
    # The CSMS may send the serial number with leading zeros and in capitals.
    shouted = {k: v.upper() for k, v in data.items()} | {
        "serialNumber": "00" + data["serialNumber"]
    }
    assert store.delete(shouted) == "Accepted"
    assert store.delete(data) == "NotFound"
    assert store.delete(hash_data(roots[2])) == "NotFound"
    assert [i.kind for i in store.ids(None)] == ["CSMSRootCertificate"]


def test_a_full_store_fails_the_next_install() -> None:
    store = CertificateStore("CP-1")
    for n in range(MAX_INSTALLED):
        pem = certificate_pem(new_authority(name=f"r{n}").certificate).decode()
        assert store.install("V2GRootCertificate", pem) == "Accepted"
    extra = certificate_pem(new_authority(name="one more").certificate).decode()
    assert store.install("V2GRootCertificate", extra) == "Failed"
