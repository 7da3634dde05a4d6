"""The generated audience of the segment tests (10k contacts with companies, tags, custom
attributes, consent, purchases and product interests, bulk-inserted once per database) and a
plain-Python oracle of the filter language over it."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from drumbeat.platform import segments
from tests.conftest import unique

N = 10_000
TODAY = date(2028, 2, 29)  # a leap day: ages and periods cross the awkward boundary
UTC = timezone.utc

FIRST = ["Ana", "ANA", "ana", "Marko", "Iva", "O'Brien", "zoë", "Luka", "Per_cent", "Mia", ""]
LAST = ["Horvat", "Kovač", "Rossi", "Garcia", "100%Pure", "Fifty_Fifty", "Smith", ""]
JOBS = ["Manager", "Sales manager", "CEO", "Engineer", ""]
LANGUAGES = ["hr", "en", "it", "es-ES", ""]
COUNTRIES = ["HR", "IT", "ES", "DE", ""]
CITIES = ["Zagreb", "Split", "Rome", "Madrid", ""]
GENDERS = ["female", "male", "diverse", ""]
TAGS = ["VIP", "vip", "newsletter", "Lead", "b2b", "Event_2025", "50%"]
INDUSTRIES = ["Retail", "Software", "Food", ""]
COMPANY_NAMES = ["Acme", "ACME Labs", "Globex", "Initech", "100% Organic", "a_b Corp"]
CATEGORIES = ["Books", "books", "Music", "Garden", "Soft_ware"]


@dataclass
class Data:
    run: str
    contacts: list[dict]  # id → the generated values, plus tags, purchases, interests
    products: list[dict]
    companies: dict[int, dict]
    marker: dict = field(default_factory=dict)


_DATA: dict[str, Data] = {}


def _day(rng: random.Random, start: date, days: int) -> date:
    return start + timedelta(days=rng.randrange(days))


def _generate(rng: random.Random, run: str):
    companies = [dict(name=f"{rng.choice(COMPANY_NAMES)} {k}", vat_id=run,
                      industry=rng.choice(INDUSTRIES),
                      size=None if rng.random() < 0.2 else rng.randint(1, 5000),
                      country=rng.choice(COUNTRIES), city=rng.choice(CITIES),
                      email=None if rng.random() < 0.3 else f"office{k}@acme.example")
                 for k in range(300)]
    contacts = []
    for i in range(N):
        attributes = {"seg_run": run}
        roll = rng.random()
        if roll < 0.5:
            attributes["score"] = rng.randint(0, 100)
        elif roll < 0.7:
            attributes["score"] = round(rng.uniform(0, 100), 2)
        elif roll < 0.8:
            attributes["score"] = rng.choice(["high", "50", ""])
        if rng.random() < 0.6:
            attributes["vip"] = rng.random() < 0.5
        if rng.random() < 0.7:
            attributes["plan"] = rng.choice(["Gold", "gold", "Silver", "50%_off", ""])
        birth = None
        if rng.random() < 0.8:
            birth = rng.choice([
                _day(rng, date(1950, 1, 1), 21_000),
                date(1992, 2, 29), date(TODAY.year - 30, 2, 28), date(TODAY.year - 30, 3, 1),
                date(TODAY.year - 18, 2, 28), date(TODAY.year - 18, 3, 1),
            ])
        created = datetime.combine(_day(rng, TODAY - timedelta(days=700), 700), time(),
                                   tzinfo=UTC)
        if rng.random() < 0.7:
            created += timedelta(seconds=rng.randrange(86_400), microseconds=rng.randrange(10**6))
        first, last = rng.choice(FIRST), rng.choice(LAST)
        consent = rng.choice(["GRANTED", "DENIED", "UNKNOWN"])
        contacts.append(dict(
            first_name=first, last_name=last,
            email=None if rng.random() < 0.05 else f"{first.lower() or 'x'}.{i}@{run}.example",
            phone=rng.choice(["", "+385 1 234", "+39 06 555"]), job_title=rng.choice(JOBS),
            language=rng.choice(LANGUAGES), timezone="Europe/Zagreb",
            country=rng.choice(COUNTRIES), city=rng.choice(CITIES), birth_date=birth,
            gender=rng.choice(GENDERS), attributes=attributes,
            company=None if rng.random() < 0.3 else rng.randrange(len(companies)),
            consent=consent, consent_source=rng.choice(["web form", "Trade fair", ""]),
            consent_at=None if consent == "UNKNOWN" else created + timedelta(days=rng.randrange(30)),
            unsubscribed=rng.random() < 0.1, bounced=rng.random() < 0.05, created_at=created,
            tags=sorted(set(rng.sample(TAGS, rng.choice([0, 0, 1, 1, 2, 3])))),
            purchases=[dict(product=rng.randrange(12), cents=rng.randint(100, 50_000),
                            currency="EUR" if rng.random() < 0.85 else "USD",
                            on=TODAY - timedelta(days=rng.randrange(730)))
                       for _ in range(rng.choice([0, 0, 1, 2, 3, 5]))],
            interests=sorted(set(rng.sample(range(12), rng.choice([0, 0, 1, 2])))),
        ))
    return companies, contacts


async def _insert(platform, run: str) -> Data:
    rng = random.Random(20261123)
    db = platform.db
    companies, contacts = _generate(rng, run)
    stamp = datetime.now(UTC)
    products = []
    for k in range(12):
        product_id = await db.fetchval(
            "INSERT INTO drumbeat_product (name, category, created_at) VALUES ({}, {}, {})"
            " RETURNING id", f"{run} product {k}", CATEGORIES[k % len(CATEGORIES)], stamp)
        products.append(dict(id=product_id, category=CATEGORIES[k % len(CATEGORIES)]))
    await db.executemany(
        "INSERT INTO drumbeat_company (name, email, vat_id, phone, industry, size, country, city,"
        " created_at) VALUES ({}, {}, {}, '', {}, {}, {}, {}, {})",
        [(c["name"], c["email"], c["vat_id"], c["industry"], c["size"], c["country"], c["city"],
          stamp) for c in companies])
    company_ids = [r["id"] for r in await db.fetch(
        "SELECT id FROM drumbeat_company WHERE vat_id = {} ORDER BY id", run)]
    for company, company_id in zip(companies, company_ids):
        company["id"] = company_id
    await db.executemany(
        "INSERT INTO drumbeat_contact (first_name, last_name, email, phone, job_title, language,"
        " timezone, country, city, birth_date, gender, attributes, company, consent,"
        " consent_source, consent_at, unsubscribed, bounced, created_at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        [(c["first_name"], c["last_name"], c["email"], c["phone"], c["job_title"], c["language"],
          c["timezone"], c["country"], c["city"], c["birth_date"], c["gender"],
          json.dumps(c["attributes"]), None if c["company"] is None else company_ids[c["company"]],
          c["consent"], c["consent_source"], c["consent_at"], c["unsubscribed"], c["bounced"],
          c["created_at"]) for c in contacts])
    marker = {"attribute": {"name": "seg_run", "op": "EQ", "value": run}}
    sql, params = await segments.matching_contact_ids_sql(platform, marker)
    ids = [r["id"] for r in await db.fetch(sql + " ORDER BY c.id", *params)]
    assert len(ids) == N
    for contact, contact_id in zip(contacts, ids):
        contact["id"] = contact_id
        contact["company"] = None if contact["company"] is None else companies[contact["company"]]
    await db.executemany(
        "INSERT INTO drumbeat_contact_tag (contact, tag) VALUES ({}, {})",
        [(c["id"], tag) for c in contacts for tag in c["tags"]])
    purchases = [(c["id"], None, products[p["product"]]["id"], p["cents"], p["currency"], p["on"])
                 for c in contacts for p in c["purchases"]]
    # Company purchases never count as a contact's purchases.
    purchases += [(None, company_ids[k], products[k % 12]["id"], 99_999, "EUR", TODAY)
                  for k in range(0, 300, 3)]
    await db.executemany(
        "INSERT INTO drumbeat_purchase (contact, company, product, amount_cents, currency,"
        " purchased_on) VALUES ({}, {}, {}, {}, {}, {})", purchases)
    await db.executemany(
        "INSERT INTO drumbeat_product_interest (contact, product, created_at) VALUES ({}, {}, {})",
        [(c["id"], products[p]["id"], stamp) for c in contacts for p in c["interests"]])
    return Data(run, contacts, products, {c["id"]: c for c in companies}, marker)


async def dataset(server) -> Data:
    """The data set of this database, made on first use."""
    key = server.settings.database_url
    if key not in _DATA:
        _DATA[key] = await server.call(_insert(server.platform, unique("seg").replace("-", "_")))
    return _DATA[key]


# -- the oracle ------------------------------------------------------------------------------

def _age(birth: date) -> int:
    return TODAY.year - birth.year - ((TODAY.month, TODAY.day) < (birth.month, birth.day))


def _field_value(contact: dict, name: str):
    if name.startswith("COMPANY_"):
        company = contact["company"]
        return None if company is None else company[name[len("COMPANY_"):].lower()]
    if name == "AGE":
        return None if contact["birth_date"] is None else _age(contact["birth_date"])
    value = contact[name.lower()]
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def _compare(op: str, actual, body: dict, kind: str) -> bool:
    """``op`` over ``actual`` (None when missing); ``kind`` is text, number or boolean."""
    negated = {"NE": "EQ", "NOT_IN": "IN", "IS_EMPTY": "IS_NOT_EMPTY"}
    if op in negated:
        return not _compare(negated[op], actual, body, kind)
    if op == "IS_NOT_EMPTY":
        return actual not in (None, "")
    value, values = body.get("value"), body.get("values")
    if kind == "text":
        if not isinstance(actual, str):
            return False
        actual = actual.lower()
        value = value.lower() if isinstance(value, str) else value
        values = [v.lower() for v in values] if values else values
        return {"EQ": lambda: actual == value, "IN": lambda: actual in values,
                "CONTAINS": lambda: value in actual,
                "STARTS_WITH": lambda: actual.startswith(value)}[op]()
    if kind == "boolean":
        return isinstance(actual, bool) and actual == value
    if actual is None or isinstance(actual, (bool, str)):
        return False
    if kind == "date":
        value = date.fromisoformat(value) if value else None
        values = [date.fromisoformat(v) for v in values] if values else None
    return {"EQ": lambda: actual == value, "IN": lambda: actual in values,
            "GT": lambda: actual > value, "GTE": lambda: actual >= value,
            "LT": lambda: actual < value, "LTE": lambda: actual <= value,
            "BETWEEN": lambda: values[0] <= actual <= values[1]}[op]()


def _purchases(data: Data, contact: dict, body: dict) -> list[dict]:
    ids = set(body.get("productIds") or ())
    categories = {c.lower() for c in body.get("categories") or ()}
    period = body.get("period") or {}
    chosen = []
    for purchase in contact["purchases"]:
        product = data.products[purchase["product"]]
        if (ids or categories) and product["id"] not in ids \
                and product["category"].lower() not in categories:
            continue
        if "lastDays" in period and not TODAY - timedelta(days=period["lastDays"]) < purchase["on"] <= TODAY:
            continue
        if "from" in period and purchase["on"] < date.fromisoformat(period["from"]):
            continue
        if "to" in period and purchase["on"] > date.fromisoformat(period["to"]):
            continue
        chosen.append(purchase)
    return chosen


def _number_test(op: str, actual, wanted) -> bool:
    return {"EQ": actual == wanted, "NE": actual != wanted, "GT": actual > wanted,
            "GTE": actual >= wanted, "LT": actual < wanted, "LTE": actual <= wanted}[op]


def matches(data: Data, contact: dict, node: dict) -> bool:
    (key, body), = node.items()
    if key == "all":
        return all(matches(data, contact, n) for n in body)
    if key == "any":
        return any(matches(data, contact, n) for n in body)
    if key == "not":
        return not matches(data, contact, body)
    if key == "field":
        name = body["field"]
        kind = ("date" if name in ("BIRTH_DATE", "CREATED_AT", "CONSENT_AT") else
                "number" if name in ("AGE", "COMPANY_SIZE") else "text")
        return _compare(body["op"], _field_value(contact, name), body, kind)
    if key == "attribute":
        sample = body.get("value", (body.get("values") or [None])[0])
        kind = ("boolean" if isinstance(sample, bool) else
                "number" if isinstance(sample, (int, float)) else "text")
        actual = contact["attributes"].get(body["name"])
        if kind == "number" and isinstance(actual, bool):
            actual = None
        return _compare(body["op"], actual, body, kind)
    if key == "tags":
        mine, wanted = {t.lower() for t in contact["tags"]}, {t.lower() for t in body["tags"]}
        return {"ANY": bool(mine & wanted), "ALL": wanted <= mine,
                "NONE": not mine & wanted}[body["match"]]
    if key == "consent":
        return contact["consent"] in body
    if key in ("unsubscribed", "bounced"):
        return contact[key] == body
    if key == "bought":
        return bool(_purchases(data, contact, body))
    if key == "spend":
        chosen = [p for p in _purchases(data, contact, body) if p["currency"] == body["currency"].upper()]
        total = sum(p["cents"] for p in chosen)
        return _number_test(body["op"], total, round(float(body["amount"]) * 100))
    if key == "purchaseCount":
        return _number_test(body["op"], len(_purchases(data, contact, body)), body["count"])
    if key == "interest":
        ids = set(body.get("productIds") or ())
        categories = {c.lower() for c in body.get("categories") or ()}
        chosen = [data.products[p] for p in contact["interests"]]
        return any(not (ids or categories) or p["id"] in ids or p["category"].lower() in categories
                   for p in chosen)
    raise AssertionError(key)
