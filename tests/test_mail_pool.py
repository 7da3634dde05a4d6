"""The SMTP session pool: sessions kept open across batches, a session the server dropped
while idle reconnected without losing or repeating a message, idle sessions closed, and
everything closed with the platform. Sessions are counted by the SMTP server. Replies are
handled alike with and without PIPELINING."""

from __future__ import annotations

import pytest

from drumbeat import Envelope, Sender, Target, build_message, transport_for
from drumbeat.platform.mail.transport import bind_mail, close_mail
from drumbeat.settings import Settings
from tests.support.smtp_sessions import CountingSink


@pytest.fixture(params=[False, True], ids=["sequential", "pipelined"])
def sink(request):
    sink = CountingSink(pipelining=request.param).start()
    yield sink
    sink.stop()


def envelopes(start: int, count: int, tag: str = "pool", suffix=lambda i: ""
              ) -> list[Envelope]:
    sender = Sender("Pool", "pool@drumbeat.example")
    result = []
    for i in range(start, start + count):
        address = f"{tag}{i}{suffix(i)}@example.org"
        message_id = f"<{tag}.{i}@drumbeat.example>"
        data = build_message(sender=sender, to_name="", to_address=address, subject="Hi",
                             text="Hello", html=None, message_id=message_id)
        result.append(Envelope(Target(i, f"c0.s0.contact{i}", "contact", i, address, 1),
                               sender.email, address, message_id, data))
    return result


async def test_sessions_stay_open_across_batches(sink):
    transport = transport_for(sink.url, 2)
    try:
        for batch in range(5):
            results = await transport.send(envelopes(batch * 10, 10))
            assert [r.outcome.status for r in results] == ["done"] * 10
        assert sorted(sink.recipients()) == sorted(f"pool{i}@example.org" for i in range(50))
        assert sink.sessions == 2  # one connect + EHLO per lane, not per batch
        assert sink.open_now == 2
    finally:
        await close_mail()
    assert await sink.until(lambda: sink.open_now == 0)  # QUIT at close


async def test_a_session_dropped_while_idle_is_reconnected_in_place(sink):
    transport = transport_for(sink.url, 2)
    try:
        assert all(r.outcome.status == "done" for r in await transport.send(envelopes(0, 4)))
        sink.drop_sessions()  # e.g. the server's idle timeout
        assert await sink.until(lambda: sink.open_now == 0)
        results = await transport.send(envelopes(4, 6))
        assert [r.outcome.status for r in results] == ["done"] * 6
        got = sink.recipients()
        assert sorted(got) == sorted(f"pool{i}@example.org" for i in range(10))  # once each
        assert sink.sessions == 4
    finally:
        await close_mail()


async def test_idle_sessions_are_closed_after_idle_seconds(sink):
    bind_mail(None, Settings(smtp_idle_seconds=0.3))
    transport = transport_for(sink.url, 2)
    try:
        assert all(r.outcome.status == "done" for r in await transport.send(envelopes(0, 4)))
        assert sink.open_now == 2
        assert await sink.until(lambda: sink.open_now == 0, timeout=5)
        # and a later batch simply opens new ones
        assert all(r.outcome.status == "done" for r in await transport.send(envelopes(4, 4)))
        assert sink.sessions == 4
    finally:
        await close_mail()


async def test_a_batch_uses_at_most_its_connections(sink):
    transport = transport_for(sink.url, 3)
    try:
        results = await transport.send(envelopes(0, 30))
        assert len(results) == 30 and {r.outcome.status for r in results} == {"done"}
        assert [r.outcome.delivery_id for r in results] == list(range(30))  # batch order
        assert sink.max_open == 3
    finally:
        await close_mail()


async def test_an_unreachable_server_retries_every_delivery():
    transport = transport_for("smtp://127.0.0.1:9", 2)  # nothing listens on the discard port
    try:
        results = await transport.send(envelopes(0, 5))
    finally:
        await close_mail()
    assert [r.outcome.status for r in results] == ["retry"] * 5
    assert all("SMTP connect" in r.outcome.error for r in results)


async def test_refusals_end_their_delivery_and_the_batch_goes_on(sink):
    kinds = {1: "+reject", 2: "+busy", 3: "+policy", 6: "+reject"}
    transport = transport_for(sink.url, 1)  # one session: every refusal on it
    try:
        results = await transport.send(envelopes(0, 8, suffix=lambda i: kinds.get(i, "")))
    finally:
        await close_mail()
    outcomes = [(r.outcome.status, r.hard_bounce) for r in results]
    assert outcomes == [("done", False), ("failed", True), ("retry", False), ("failed", False),
                        ("done", False), ("done", False), ("failed", True), ("done", False)]
    assert results[1].outcome.error.startswith("SMTP RCPT 550")
    assert results[2].outcome.error.startswith("SMTP RCPT 451")
    assert results[3].outcome.error.startswith("SMTP 554")
    assert sorted(sink.recipients()) == [f"pool{i}@example.org" for i in (0, 4, 5, 7)]
    assert sink.sessions == 1  # RSET after each refusal, the session goes on


async def test_dot_stuffing_and_line_ends(sink):
    from tests.support.smtp import SmtpSink  # the recording server, to read the content

    recording = SmtpSink().start()
    try:
        [envelope] = envelopes(0, 1)
        data = envelope.data.replace(b"Hello", b".leading dot\n..two\r\nlast line")
        transport = transport_for(recording.url, 1)
        from dataclasses import replace

        [result] = await transport.send([replace(envelope, data=data)])
        assert result.outcome.status == "done"
        [received] = recording.messages()
        body = received.message.get_payload(decode=True)
        assert body.startswith(b".leading dot\r\n..two\r\nlast line") or \
            body.startswith(b".leading dot\n..two\nlast line")
    finally:
        await close_mail()
        recording.stop()


async def test_a_session_upgraded_with_starttls_sends_pipelined(tmp_path):
    """aiosmtplib upgrades the session (STARTTLS); the pool's session then takes over the
    TLS connection."""
    import ssl
    import subprocess
    from dataclasses import replace

    import aiosmtplib

    from drumbeat.platform.mail.pool import SmtpPool, SmtpServer
    from drumbeat.platform.mail.smtp import SmtpTransport

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    sink = CountingSink(pipelining=True)
    sink._controller.SMTP_kwargs["tls_context"] = context
    sink._controller.SMTP_kwargs["require_starttls"] = True
    sink.start()

    class TrustingServer(SmtpServer):  # the test certificate is self-signed
        def client(self) -> aiosmtplib.SMTP:
            return aiosmtplib.SMTP(hostname=self.hostname, port=self.port, timeout=30,
                                   start_tls=True, cert_bundle=str(cert))

    server = TrustingServer(**vars(SmtpServer.from_url(sink.url)))
    pool = SmtpPool(server)
    transport = SmtpTransport(sink.url, 2, pool=lambda _server: pool)
    transport.server = server
    try:
        for batch in range(2):
            results = await transport.send(envelopes(batch * 5, 5, tag="tls"))
            assert [r.outcome.status for r in results] == ["done"] * 5, results
        assert sorted(sink.recipients()) == sorted(f"tls{i}@example.org" for i in range(10))
        assert sink.sessions == 2
    finally:
        await pool.close()
        sink.stop()
