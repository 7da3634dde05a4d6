"""The MIME builder: what it writes parses back to the same headers and bodies, and agrees
with the standard library's ``EmailMessage`` on a seeded random corpus."""

from __future__ import annotations

import email
import email.policy
import random
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate

import pytest

from drumbeat import Sender
from drumbeat.platform.mail.message import build_message

SENDER = Sender("Drumbeat News", "news@example.com")
UNSUBSCRIBE = "https://drumbeat.example/u/" + "t0k3n" * 12

SAMPLES = {
    "ascii": ("Ada Lovelace", "Your invitation", "Hello Ada,\nsee you soon.\n", "<p>Hello</p>"),
    "croatian": ("Željko Đurđević", "Čestitamo, Željko! Šaljemo vam ponudu",
                 "Poštovani gospodine Đurđeviću,\nčestitamo! Ćao, žuta šuma.\n",
                 "<p>Čćđšž ČĆĐŠŽ</p>"),
    "italian": ("Niccolò Àlvaro", "Perché è così", "Città, più, perché — caffè.\n", "<b>è</b>"),
    "spanish": ("Íñigo Muñoz", "¿Año nuevo? ¡Sí!", "Señora Núñez,\n¿qué tal el año?\n", "<i>ñ</i>"),
    "polish": ("Łukasz Żółć", "Zażółć gęślą jaźń", "Pchnąć w tę łódź jeża lub ośm skrzyń fig.\n",
               "<p>ąęłńóśźż</p>"),
    "serbian": ("Јован Јовановић", "Добродошли у кампању", "Поштовани Јоване,\nхвала вам.\n" * 5,
                "<p>Ђорђе Љубић Његош</p>" * 3),
    "long lines": ("A" * 90, ("Long subject " * 12).strip(), ("word " * 300 + "\n") + "x" * 1500 + "\n",
                   "<div>" + "y" * 2000 + "</div>"),
    "from and dot": ("Bob", "Lines", "From here on\n.\n..\n.start\nFrom\n", "From me\n.\n"),
    "empty html": ("Eve", "Empty", "Text only matters.\n", ""),
    "no html": ("Eve", "Plain", "Just text.\n", None),
    "trailing space": ("Tab", "Spaces", "trailing space \ntab\t\nä \n", "<p> </p>  \n"),
}


def reference_message(*, sender, to_name, to_address, subject, text, html, message_id,
                      unsubscribe_url=None) -> bytes:
    """The previous builder, on ``EmailMessage``: the oracle."""
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((sender.name, sender.email))
    message["Reply-To"] = formataddr((sender.name, sender.email))
    message["To"] = formataddr((to_name, to_address))
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def summary(message) -> dict:
    """What a receiver sees: decoded headers (Date aside) and each part's type and text."""
    headers = {k: str(v) for k, v in message.items()
               if k not in ("Date", "Content-Type", "Content-Transfer-Encoding", "MIME-Version")}
    parts = [message] if not message.is_multipart() else list(message.iter_parts())
    return {
        "headers": headers,
        "type": message.get_content_type(),
        "parts": [(p.get_content_type(), p.get_content_charset(), content(p)) for p in parts],
    }


def build(builder, name, to_name, subject, text, html, unsubscribe=UNSUBSCRIBE) -> bytes:
    return builder(sender=SENDER, to_name=to_name, to_address="someone@example.org",
                   subject=subject, text=text, html=html, message_id=f"<{name}.1@drumbeat.example>",
                   unsubscribe_url=unsubscribe)


def content(part) -> str:
    """A part's text as a receiver stores it (a 7bit body keeps the wire's CRLF)."""
    return part.get_content().replace("\r\n", "\n")


def normalised(body: str) -> str:
    """Bodies come back with LF line ends and one final line break."""
    return "\n".join(body.splitlines()) + "\n"


@pytest.mark.parametrize("case", sorted(SAMPLES))
def test_headers_and_bodies_round_trip(case):
    to_name, subject, text, html = SAMPLES[case]
    data = build(build_message, case.replace(" ", "-"), to_name, subject, text, html)
    message = parse(data)

    assert not message.defects
    assert message["From"].addresses[0].display_name == "Drumbeat News"
    assert message["From"].addresses[0].addr_spec == "news@example.com"
    assert str(message["Reply-To"]) == str(message["From"])
    assert message["To"].addresses[0].display_name == to_name
    assert message["To"].addresses[0].addr_spec == "someone@example.org"
    assert str(message["Subject"]) == subject.strip()
    assert message["Date"].datetime is not None
    assert message["Message-ID"] == f"<{case.replace(' ', '-')}.1@drumbeat.example>"
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["MIME-Version"] == "1.0"
    plain = message.get_body(("plain",))
    assert content(plain) == normalised(text)
    if html is None:
        assert message.get_content_type() == "text/plain"
    else:
        assert message.get_content_type() == "multipart/alternative"
        assert content(message.get_body(("html",))) == normalised(html)
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


@pytest.mark.parametrize("case", sorted(SAMPLES))
def test_wire_format(case):
    """CRLF only, no line over 998 octets, ASCII only (no SMTPUTF8 / 8BITMIME needed)."""
    to_name, subject, text, html = SAMPLES[case]
    data = build(build_message, "wire", to_name, subject, text, html)
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    head = data.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))


@pytest.mark.parametrize("case", sorted(SAMPLES))
def test_agrees_with_email_message(case):
    to_name, subject, text, html = SAMPLES[case]
    ours = summary(parse(build(build_message, "same", to_name, subject, text, html)))
    theirs = summary(parse(build(reference_message, "same", to_name, subject, text, html)))
    assert ours == theirs


ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz ABCXYZ 0123456789 .,;:!?-'\"()<>&=_/@#%",
    "čćđšžČĆĐŠŽ", "àèéìòùÀÈÉ", "ñáéíóú¿¡Ñ", "ąęłńóśźżĄĘŁŃÓŚŹŻ",
    "абвгдђежзијклљмнњопрстћуфхцчџшЂЉЊЋЏ", "€™“”‘’…–—", "\t", "=", "😀🎉",
]


def random_text(rng: random.Random, max_lines: int) -> str:
    lines = []
    for _ in range(rng.randint(0, max_lines)):
        alphabet = "".join(rng.sample(ALPHABETS, rng.randint(1, 3)))
        length = rng.choice([0, 1, 5, 40, 77, 78, 79, 200, 1200])
        line = "".join(rng.choice(alphabet) for _ in range(length))
        lines.append(rng.choice(["", "", "From ", ".", "..", " "]) + line + rng.choice(["", "", " "]))
    return rng.choice(["\n", "\r\n", "\r"]).join(lines) + rng.choice(["", "\n"])


def random_name(rng: random.Random) -> str:
    alphabet = "".join(rng.sample(ALPHABETS[:6], 2)).replace("\t", "")
    return "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 3, 12, 40, 90]))).strip()


def test_agrees_with_email_message_on_a_random_corpus():
    rng = random.Random(20261123)
    for index in range(300):
        subject = random_name(rng) or "Hello"
        to_name, text = random_name(rng), random_text(rng, 8)
        html = rng.choice([None, "", random_text(rng, 4)])
        ours_bytes = build(build_message, f"r{index}", to_name, subject, text, html,
                           unsubscribe=rng.choice([None, UNSUBSCRIBE]))
        theirs_bytes = build(reference_message, f"r{index}", to_name, subject, text, html,
                             unsubscribe=None if b"List-Unsubscribe" not in ours_bytes else UNSUBSCRIBE)
        ours, theirs = summary(parse(ours_bytes)), summary(parse(theirs_bytes))
        # EmailMessage re-parses an encoded display name with ":" or "<" as a group: ours
        # keeps the name, which is what the recipient should see.
        to = parse(ours_bytes)["To"].addresses[0]
        # (the parser collapses runs of spaces in a display name)
        assert (to.display_name, to.addr_spec) == (" ".join(to_name.split()),
                                                   "someone@example.org"), index
        del ours["headers"]["To"], theirs["headers"]["To"]
        assert ours == theirs, (index, to_name, subject, text, html)
        assert not parse(ours_bytes).defects
        assert max(len(line) for line in ours_bytes.split(b"\r\n")) <= 998


@pytest.mark.parametrize("field", ["to_name", "subject"])
def test_a_line_break_in_a_header_is_refused(field):
    values = {"to_name": "Eve", "subject": "Hi"}
    values[field] += "\r\nBcc: victim@example.org"
    with pytest.raises(ValueError):
        build(build_message, "inject", values["to_name"], values["subject"], "x", None)


def test_a_non_ascii_address_is_refused():
    with pytest.raises(UnicodeError):
        build_message(sender=SENDER, to_name="Ana", to_address="ána@example.org", subject="Hi",
                      text="x", html=None, message_id="<x@y>")


def test_the_boundary_is_fresh_and_absent_from_the_bodies():
    text = "--=_drumbeat_ looks like a boundary\n"
    data = build(build_message, "b", "Ana", "Hi", text, "<p>x</p>")
    boundary = parse(data).get_boundary()
    assert boundary.startswith("=_drumbeat_")
    assert data.count(boundary.encode()) == 4  # the parameter, two delimiters, the close
    assert content(parse(data).get_body(("plain",))) == text
