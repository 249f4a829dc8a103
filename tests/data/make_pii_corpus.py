"""Write tests/data/pii_corpus.jsonl: a seeded, labelled corpus for the PII detectors.

Run: python tests/data/make_pii_corpus.py [--seed N] [--docs N] [--out PATH]

Each line is {"id", "style", "negative", "text", "spans": [[start, end, type], ...]}.
Styles: chat, log, json, code, csv, email. At least 30 % of documents hold no PII at
all and are built from look-alikes (versions, timestamps, hashes, UUIDs, order numbers,
file names, numbers failing checksums, ...); positive documents carry look-alikes too.

Labelling rules (decided before the detectors were measured, and kept):
* a URL is labelled as a whole; an IP or e-mail inside it is not labelled separately;
* an IP with a port or prefix ("10.0.0.5:8080", "10.0.0.0/8") is labelled without it;
* bare digit runs count as phone, SSN, routing, NHS or SIN numbers only when a label
  ("phone", "SSN", ...) stands next to them; unlabelled they are IDs (negatives);
* in CSV documents the header line names each column (the entity type, lower-cased),
  so the header is the label of every cell below it;
* AWS secret keys appear with the label people put next to them (secret, key, ...).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import uuid
from collections.abc import Callable
from pathlib import Path


def _words(text: str) -> list[str]:
    return text.split()


FIRST = _words(
    "james mary john patricia robert jennifer michael linda david elizabeth william "
    "susan richard jessica joseph sarah thomas karen chris nancy daniel lisa matthew "
    "betty anthony sandra mark ashley priya wei yuki omar fatima lars ingrid pierre "
    "chloe diego lucia hans anke"
)
LAST = _words(
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez "
    "lopez wilson anderson thomas taylor moore jackson martin lee thompson white harris "
    "clark lewis patel nguyen kim muller schmidt dubois rossi silva tanaka okafor"
)
DOMAINS = _words(
    "gmail.com outlook.com yahoo.com acme-corp.com example.org mail.example.co.uk "
    "uni-heidelberg.de company.io startup.ai globex.net initech.com sub.dept.example.org "
    "hooli.xyz protonmail.ch"
)
WORDS = _words(
    "please check the report before friday we need to update config deploy service "
    "thanks for your help the build failed again can you look into it meeting notes "
    "customer asked about billing invoice attached see below latest release works fine "
    "on my machine cache cleared retry later and let me know if anything else comes up"
)

IBAN_BBAN = {  # country: (length, BBAN shape: a=letter, n=digit, c=alnum)
    "DE": "nnnnnnnnnnnnnnnnnn", "GB": "aaaannnnnnnnnnnnnn", "FR": "nnnnnnnnnncccccccccccnn",
    "ES": "nnnnnnnnnnnnnnnnnnnn", "IT": "annnnnnnnnncccccccccccc", "NL": "aaaannnnnnnnnn",
    "BE": "nnnnnnnnnnnn", "CH": "nnnnncccccccccccc", "AT": "nnnnnnnnnnnnnnnn",
    "PL": "nnnnnnnnnnnnnnnnnnnnnnnn", "SE": "nnnnnnnnnnnnnnnnnnnn", "IE": "aaaannnnnnnnnnnnnn",
    "PT": "nnnnnnnnnnnnnnnnnnnnn", "NO": "nnnnnnnnnnn", "DK": "nnnnnnnnnnnnnn",
}  # fmt: skip


class Gen:
    """Value generators; every method returns text, labelled or not by the caller."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def d(self, n: int) -> str:
        return "".join(self.r.choice(string.digits) for _ in range(n))

    def pick(self, *options: str) -> str:
        return self.r.choice(options)

    # --- entities ---------------------------------------------------------------
    def email(self) -> str:
        f, last = self.r.choice(FIRST), self.r.choice(LAST)
        local = self.pick(
            f"{f}.{last}", f"{f[0]}.{last}", f"{f}{last}{self.r.randint(1, 99)}",
            f"{f}_{last}", f"{f}.{last}+{self.pick('news', 'work', 'git')}", f"{last}.{f}",
        )  # fmt: skip
        value = f"{local}@{self.r.choice(DOMAINS)}"
        return value.upper() if self.r.random() < 0.05 else value

    def _nanp(self) -> tuple[str, str, str]:
        return (
            str(self.r.randint(2, 9)) + self.d(2),
            str(self.r.randint(2, 9)) + self.d(2),
            self.d(4),
        )

    def phone(self) -> str:
        a, b, c = self._nanp()
        d = self.d
        return self.pick(
            f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c}",
            f"+1-{a}-{b}-{c}", f"+1 ({a}) {b}-{c}", f"1-{a}-{b}-{c}", f"+1{a}{b}{c}",
            f"+44 20 {d(4)} {d(4)}", f"+44 7{d(3)} {d(6)}", f"020 {d(4)} {d(4)}",
            f"07{d(3)} {d(6)}", f"+49 30 {d(8)}", f"+49 (0)30 {d(4)} {d(4)}",
            f"030 {d(7)}", f"+49 151 {d(8)}", f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}",
            f"01 {d(2)} {d(2)} {d(2)} {d(2)}", f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}",
            f"06.{d(2)}.{d(2)}.{d(2)}.{d(2)}", f"+91 9{d(4)} {d(5)}",
            f"+81 3-{d(4)}-{d(4)}", f"03-{d(4)}-{d(4)}", f"+61 2 {d(4)} {d(4)}",
            f"(02) {d(4)} {d(4)}", f"04{d(2)} {d(3)} {d(3)}", f"+55 11 9{d(4)}-{d(4)}",
            f"+442079{d(6)}", f"+34 6{d(2)} {d(3)} {d(3)}", f"+39 06 {d(4)} {d(4)}",
        )  # fmt: skip

    def bare_phone(self) -> str:
        a, b, c = self._nanp()
        return a + b + c

    def ssn(self) -> str:
        area = self.r.choice([n for n in range(1, 900) if n != 666])
        group, serial = self.r.randint(1, 99), self.r.randint(1, 9999)
        sep = "-" if self.r.random() < 0.85 else " "
        return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"

    def itin(self) -> str:
        group = self.r.choice([*range(50, 66), *range(70, 89), 90, 91, 92, *range(94, 100)])
        return f"9{self.d(2)}-{group:02d}-{self.d(4)}"

    @staticmethod
    def _luhn_complete(body: str) -> str:
        total = 0
        for i, ch in enumerate(reversed(body)):
            n = int(ch)
            if i % 2 == 0:
                n *= 2
                if n > 9:
                    n -= 9
            total += n
        return body + str((10 - total % 10) % 10)

    def card(self) -> str:
        kind = self.r.random()
        if kind < 0.15:  # American Express, 4-6-5
            num = self._luhn_complete(self.pick("34", "37") + self.d(12))
            sep = self.pick(" ", "-", "")
            return sep.join((num[:4], num[4:10], num[10:]))
        jcb = str(self.r.randint(3528, 3589))
        prefix = self.pick("4", "4", "4", "51", "52", "53", "54", "55", "2221", "6011", jcb)
        num = self._luhn_complete(prefix + self.d(15 - len(prefix)))
        sep = self.pick(" ", " ", "-", "")
        return sep.join(num[i : i + 4] for i in range(0, 16, 4))

    def iban(self, valid: bool = True) -> str:
        cc = self.r.choice(sorted(IBAN_BBAN))
        shape = IBAN_BBAN[cc]
        bban = "".join(
            self.r.choice(string.ascii_uppercase if ch == "a" else string.digits)
            if ch != "c"
            else self.r.choice(string.ascii_uppercase + string.digits)
            for ch in shape
        )
        expanded = "".join(str(int(ch, 36)) for ch in bban + cc + "00")
        check = 98 - int(expanded) % 97
        if not valid:
            check = (check + self.r.randint(1, 96)) % 97 + 2
            check = min(check, 99)
            if check == 98 - int(expanded) % 97:
                check = check + 1 if check < 99 else 2
        compact = f"{cc}{check:02d}{bban}"
        if self.r.random() < 0.6:
            return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
        return compact

    def ipv4(self) -> str:
        first = self.pick("10", "172", "192", str(self.r.randint(11, 223)))
        rest = [self.r.randint(0, 255) for _ in range(3)]
        if first == "192":
            rest[0] = 168
        return ".".join([first, *map(str, rest)])

    def ipv6(self) -> str:
        groups = [f"{self.r.randint(0, 65535):x}" for _ in range(8)]
        kind = self.r.random()
        if kind < 0.3:
            return ":".join(groups)
        if kind < 0.6:
            return f"2001:db8:{groups[2]}::{groups[7]}"
        if kind < 0.8:
            return f"fe80::{groups[4]}:{groups[5]}:{groups[6]}:{groups[7]}"
        return self.pick("::1", f"::ffff:{self.ipv4()}", f"2606:4700:{groups[2]}::{groups[3]}")

    def ip(self) -> str:
        return self.ipv4() if self.r.random() < 0.7 else self.ipv6()

    def mac(self) -> str:
        octets = [f"{self.r.randint(0, 255):02x}" for _ in range(6)]
        kind = self.r.random()
        if kind < 0.45:
            value = ":".join(octets)
        elif kind < 0.8:
            value = "-".join(octets)
        else:
            joined = "".join(octets)
            value = ".".join(joined[i : i + 4] for i in range(0, 12, 4))
        return value.upper() if self.r.random() < 0.5 else value

    def url(self) -> str:
        host = self.pick(
            "example.com", "www.acme-corp.com", "docs.python.org", "github.com",
            "shop.example.co.uk", "api.internal.globex.net", "intranet.initech.com:8443",
        )  # fmt: skip
        path = "/".join(self.r.choice(WORDS) for _ in range(self.r.randint(0, 4)))
        query = self.pick(
            "", "", f"?id={self.d(5)}", f"?q={self.r.choice(WORDS)}&page={self.r.randint(1, 9)}",
            f"#section-{self.r.randint(1, 9)}",
        )  # fmt: skip
        if self.r.random() < 0.15:
            return f"www.{self.pick('example.org', 'acme-corp.com')}/{path}{query}"
        scheme = self.pick("https", "https", "http")
        return f"{scheme}://{host}/{path}{query}"

    def aws_access_key(self) -> str:
        alphabet = string.ascii_uppercase + "234567"
        return self.pick("AKIA", "AKIA", "ASIA") + "".join(
            self.r.choice(alphabet) for _ in range(16)
        )

    def aws_secret_key(self) -> str:
        alphabet = string.ascii_letters + string.digits + "+/"
        return "".join(self.r.choice(alphabet) for _ in range(40))

    def nino(self) -> str:
        first = self.r.choice("ABCEGHJKLMNOPRSTWXYZ")
        second = self.r.choice("ABCEGHJKLMNPRSTWXYZ")
        while first + second in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
            second = self.r.choice("ABCEGHJKLMNPRSTWXYZ")
        digits = self.d(6)
        tail = self.r.choice("ABCD")
        if self.r.random() < 0.4:
            return f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {tail}"
        return f"{first}{second}{digits}{tail}"

    def vin(self) -> str:
        chars = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
        values = {
            **{str(i): i for i in range(10)},
            **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
        }
        values.update(dict(zip("JKLMN", range(1, 6), strict=True)) | {"P": 7, "R": 9})
        values.update(dict(zip("STUVWXYZ", range(2, 10), strict=True)))
        weights = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
        while True:
            body = [self.r.choice(chars) for _ in range(17)]
            body[0] = self.r.choice("12345JKLSWYZ")
            body[9] = self.r.choice("ABCDEFGHJKLMNPRSTVWXY")
            body[11:] = [self.r.choice(string.digits) for _ in range(6)]
            total = sum(values[c] * w for c, w in zip(body, weights, strict=True))
            body[8] = "X" if total % 11 == 10 else str(total % 11)
            letters = sum(c.isalpha() for c in body)
            if 2 <= letters <= 14:
                return "".join(body)

    def nhs(self) -> str:
        while True:
            body = self.d(9)
            total = sum((10 - i) * int(body[i]) for i in range(9))
            check = 11 - total % 11
            check = 0 if check == 11 else check
            if check != 10:
                num = body + str(check)
                return self.pick(f"{num[:3]} {num[3:6]} {num[6:]}", num)

    def routing(self) -> str:
        while True:
            num = self.pick("0", "1", "2", "3") + self.d(8)
            d = [int(c) for c in num]
            checksum = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]
            prefix = int(num[:2])
            if checksum % 10 == 0 and (prefix <= 12 or 21 <= prefix <= 32):
                return num

    def sin(self) -> str:
        body = self.pick("1", "2", "3", "4", "5", "6", "7", "9") + self.d(7)
        num = self._luhn_complete(body)
        return self.pick(f"{num[:3]} {num[3:6]} {num[6:]}", f"{num[:3]}-{num[3:6]}-{num[6:]}")

    def swift(self) -> str:
        bank = "".join(self.r.choice(string.ascii_uppercase) for _ in range(4))
        country = self.pick("DE", "GB", "US", "FR", "CH", "NL", "JP")
        loc = self.r.choice(string.ascii_uppercase) + self.r.choice(string.ascii_uppercase + "2")
        return bank + country + loc + self.pick("", "", "XXX", "100")

    # --- look-alikes --------------------------------------------------------------
    def version(self) -> str:
        a, b, c, e = (self.r.randint(0, 20) for _ in range(4))
        return self.pick(
            f"v{a}.{b}.{c}.{e}", f"version {a}.{b}.{c}.{e}", f"=={a}.{b}.{c}.{e}",
            f"{a}.{b}.{c}", f"v{a}.{b}.{c}-rc.{e}", f"Chrome/12{a}.0.{self.d(4)}.{self.d(3)}",
            f"build {a}.{b}.{c}.{e}", f"10.0.1904{a}.{self.d(3)}", f"release-{a}.{b}.{c}.{e}",
        )  # fmt: skip

    def timestamp(self) -> str:
        y, mo, da = self.r.randint(2019, 2026), self.r.randint(1, 12), self.r.randint(1, 28)
        h, mi, s = self.r.randint(0, 23), self.r.randint(0, 59), self.r.randint(0, 59)
        return self.pick(
            f"{y}-{mo:02d}-{da:02d}T{h:02d}:{mi:02d}:{s:02d}Z",
            f"{y}-{mo:02d}-{da:02d} {h:02d}:{mi:02d}:{s:02d},{self.d(3)}",
            f"{h:02d}:{mi:02d}:{s:02d}.{self.d(3)}", f"{da:02d}/{mo:02d}/{y}",
            f"{y}-{mo:02d}-{da:02d}", f"17{self.d(8)}", f"17{self.d(11)}",
            f"{mo:02d}-{da:02d}-{y}", f"{da:02d}.{mo:02d}.{y} {h:02d}:{mi:02d}",
        )  # fmt: skip

    def hexhash(self) -> str:
        n = self.r.choice((7, 12, 32, 40, 64))
        return "".join(self.r.choice("0123456789abcdef") for _ in range(n))

    def order(self) -> str:
        return self.pick(
            f"ORD-{self.r.randint(2019, 2026)}-{self.d(6)}", f"#A{self.d(7)}",
            f"PO-{self.d(4)}-{self.d(4)}", f"INV-{self.d(9)}", f"ticket {self.d(10)}",
            f"customer id {self.d(11)}", f"1Z{self.d(3)}AA1{self.d(10)}", f"case {self.d(9)}",
            f"SKU {self.d(3)}-{self.d(2)}-{self.d(4)}-{self.d(2)}",
        )  # fmt: skip

    def filename(self) -> str:
        return self.pick(
            f"report_{self.timestamp_date()}.csv", "icon@2x.png", "logo@3x.webp",
            f"IMG_{self.d(8)}_{self.d(6)}.jpg", f"backup-{self.timestamp_date('.')}.tar.gz",
            f"app-{self.r.randint(1, 9)}.{self.r.randint(0, 20)}.{self.r.randint(0, 9)}.whl",
            "setup.py", "config.yaml", f"invoice_{self.d(6)}.pdf",
        )  # fmt: skip

    def timestamp_date(self, sep: str = "-") -> str:
        year, month, day = self.r.randint(2019, 2026), self.r.randint(1, 12), self.r.randint(1, 28)
        return f"{year}{sep}{month:02d}{sep}{day:02d}"

    def bad_card(self) -> str:
        while True:
            num = self.pick("4", "5", "3", "6") + self.d(15)
            if not _luhn_ok(num):
                break
        sep = self.pick(" ", "-", "")
        return sep.join(num[i : i + 4] for i in range(0, 16, 4))

    def misc(self) -> str:
        d = self.d
        return self.pick(
            str(uuid.UUID(int=self.r.getrandbits(128))),
            f"${self.r.randint(1, 99)},{d(3)}.{d(2)}",
            f"{self.r.uniform(-90, 90):.4f}, {self.r.uniform(-180, 180):.4f}",
            f"#{self.hexhash()[:6]}",
            f"0x{d(8)}", "std::vector<int>", "crate::io::Result", f"1.3.6.1.4.1.{d(4)}.{d(1)}",
            f"978-{d(1)}-{d(2)}-{d(6)}-{d(1)}", f"{self.r.randint(256, 999)}.{d(1)}.{d(1)}.{d(1)}",
            f"{d(2)}:{d(2)}:{d(2)}:{d(2)}", "@dataclass",
            f"@types/node@{self.r.randint(14, 22)}.{d(1)}.{d(1)}",
            f"nginx:{self.r.randint(1, 2)}.{self.r.randint(10, 27)}.{d(1)}", "user@localhost",
            f"AKIA{d(6)}", f"{self.r.randint(100, 999)}-{d(2)}-{d(5)}", f"000-{d(2)}-{d(4)}",
            f"666-{d(2)}-{d(4)}", f"port {self.r.randint(1024, 65535)}", f"pid {d(5)}",
            "getUserAccountBalanceHistoryForCustomer", f"{self.r.randint(1, 99)}.{d(2)}%",
            f"RFC {d(4)}", f"HTTP/1.1 {self.pick('200', '404', '503')}", f"x{d(3)}", f"0{d(3)}",
            f"{self.hexhash()}", f"DE00 {d(4)} {d(4)} {d(4)} {d(4)} {d(2)}",
        )  # fmt: skip

    def lookalike(self) -> str:
        return self.r.choice(
            (self.version, self.timestamp, self.hexhash, self.order, self.filename,
             self.bad_card, self.misc, self.misc, self.bad_iban)
        )()  # fmt: skip

    def bad_iban(self) -> str:
        return self.iban(valid=False)

    def words(self, lo: int = 3, hi: int = 12) -> str:
        return " ".join(self.r.choice(WORDS) for _ in range(self.r.randint(lo, hi)))


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


class Doc:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.spans: list[list[object]] = []

    def add(self, text: str, label: str | None = None) -> None:
        if label is not None:
            self.spans.append([self.size, self.size + len(text), label])
        self.parts.append(text)
        self.size += len(text)

    @property
    def text(self) -> str:
        return "".join(self.parts)


# Entity type -> (generator, labels people write next to it)
_FIELD = re.compile(r"\{(~?)([A-Z_]+)\}")


def _entity_table(g: Gen) -> dict[str, tuple[Callable[[], str], tuple[str, ...]]]:
    return {
        "EMAIL": (g.email, ("email", "e-mail", "mail me at", "contact", "reply to")),
        "PHONE": (g.phone, ("phone", "call me on", "mobile", "tel", "reach me at")),
        "PHONE_BARE": (g.bare_phone, ("phone", "call me at", "mobile", "tel")),
        "US_SOCIAL_SECURITY_NUMBER": (g.ssn, ("SSN", "social security number", "SSN#")),
        "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER": (g.itin, ("ITIN", "taxpayer id")),
        "CREDIT_DEBIT_CARD_NUMBER": (g.card, ("card", "card number", "paid with", "cc")),
        "INTERNATIONAL_BANK_ACCOUNT_NUMBER": (g.iban, ("IBAN", "account", "wire to")),
        "IP_ADDRESS": (g.ip, ("ip", "from", "host", "client", "server")),
        "MAC_ADDRESS": (g.mac, ("mac", "hwaddr", "device", "ether")),
        "URL": (g.url, ("see", "link", "docs at", "url")),
        "AWS_ACCESS_KEY": (g.aws_access_key, ("access key", "aws_access_key_id", "key id")),
        "AWS_SECRET_KEY": (g.aws_secret_key, ("aws_secret_access_key", "secret", "secret key")),
        "UK_NATIONAL_INSURANCE_NUMBER": (g.nino, ("NI number", "NINO", "national insurance")),
        "VEHICLE_IDENTIFICATION_NUMBER": (g.vin, ("VIN", "vehicle", "chassis no")),
        "UK_NATIONAL_HEALTH_SERVICE_NUMBER": (g.nhs, ("NHS number", "NHS no")),
        "US_BANK_ROUTING_NUMBER": (g.routing, ("routing number", "ABA", "routing")),
        "CA_SOCIAL_INSURANCE_NUMBER": (g.sin, ("SIN", "social insurance number")),
        "SWIFT_CODE": (g.swift, ("SWIFT", "BIC", "SWIFT/BIC")),
    }


def _label_type(kind: str) -> str:
    return "PHONE" if kind == "PHONE_BARE" else kind


def _chat(g: Gen, doc: Doc, entities: list[str], table: dict) -> None:
    openers = ("Hi team,", "Hey!", "Quick question:", "Hello,", "FYI -", "Thanks.")
    doc.add(g.r.choice(openers) + " " + g.words() + ". ")
    for kind in entities:
        gen, labels = table[kind]
        doc.add(f"{g.words(1, 6)}, {g.r.choice(labels)}: " if g.r.random() < 0.7 else
                f"{g.words(1, 6)} {g.r.choice(labels)} ")  # fmt: skip
        doc.add(gen(), _label_type(kind))
        doc.add(g.pick(". ", ", ", " and ", ".\n", " - ", "! ") + g.words(0, 5) + " ")
        if g.r.random() < 0.6:
            doc.add(f"(ref {g.lookalike()}) ")
    for _ in range(g.r.randint(1, 4)):
        doc.add(g.pick("Also ", "Btw ", "Note: ", "") + g.words(2, 8) + f" {g.lookalike()}. ")


_LOG_KEYS = {"EMAIL": "user", "IP_ADDRESS": "client_ip", "MAC_ADDRESS": "mac", "URL": "url",
             "PHONE": "phone"}  # fmt: skip


def _log(g: Gen, doc: Doc, entities: list[str], table: dict) -> None:
    lines = max(3, len(entities) + g.r.randint(1, 5))
    slots = set(g.r.sample(range(lines), len(entities)))
    pending = list(entities)
    for i in range(lines):
        doc.add(f"{g.timestamp()} {g.pick('INFO', 'WARN', 'ERROR', 'DEBUG')} "
                f"[{g.pick('api', 'auth', 'worker', 'billing')}] ")  # fmt: skip
        if i in slots and pending:
            kind = pending.pop()
            fallback = g.r.choice(table[kind][1]).replace(" ", "_")
            key = _LOG_KEYS.get(kind, fallback)
            doc.add(f"{g.words(1, 4)} {key}=")
            value = table[kind][0]()
            if kind == "IP_ADDRESS" and ":" not in value and g.r.random() < 0.3:
                doc.add(value, "IP_ADDRESS")
                doc.add(f":{g.r.randint(1024, 65535)}")
            else:
                doc.add(value, _label_type(kind))
            doc.add(f" req={g.lookalike()} dur_ms={g.r.randint(1, 999)}\n")
        else:
            doc.add(f"{g.words(2, 6)} id={g.lookalike()} v={g.version()}\n")


def _json(g: Gen, doc: Doc, entities: list[str], table: dict) -> None:
    doc.add("{")
    fields = [("request_id", None), ("created", None), *((k, k) for k in entities), ("sku", None)]
    g.r.shuffle(fields)
    for i, (name, kind) in enumerate(fields):
        if i:
            doc.add(", ")
        if kind is None:
            doc.add(f'"{name}": "{g.lookalike()}"')
            continue
        key = g.r.choice(table[kind][1]).replace(" ", "_").lower()
        doc.add(f'"{key}": "')
        doc.add(table[kind][0](), _label_type(kind))
        doc.add('"')
    doc.add(', "note": "' + g.words() + '"}')


def _code(g: Gen, doc: Doc, entities: list[str], table: dict) -> None:
    doc.add(g.pick("# config.py\n", "// settings.js\n", "# deploy script\n"))
    doc.add(f'VERSION = "{g.version()}"\nBUILD = "{g.hexhash()}"\n')
    for kind in entities:
        name = g.r.choice(table[kind][1]).upper().replace(" ", "_").replace("-", "_")
        name = re.sub(r"[^A-Z_]", "", name) or "VALUE"
        doc.add(f'{name} = "')
        doc.add(table[kind][0](), _label_type(kind))
        doc.add(f'"  # {g.words(1, 5)}\n')
    doc.add(f'RELEASE_FILE = "{g.filename()}"\nTIMEOUT_MS = {g.r.randint(100, 99999)}\n')


def _csv(g: Gen, doc: Doc, entities: list[str], table: dict) -> None:
    columns = ["id", "name", *entities, "updated", "ref"]
    doc.add(",".join(c.lower() for c in columns) + "\n")
    rows = g.r.randint(1, 4)
    for _ in range(rows):
        for j, col in enumerate(columns):
            if j:
                doc.add(",")
            if col == "id":
                doc.add(g.d(6))
            elif col == "name":
                doc.add(f"{g.r.choice(FIRST).title()} {g.r.choice(LAST).title()}")
            elif col == "updated":
                doc.add(g.timestamp())
            elif col == "ref":
                doc.add(g.lookalike().replace(",", ";"))
            elif col == "PHONE_BARE":
                doc.add(g.phone(), "PHONE")  # unlabelled column cells use written formats
            else:
                doc.add(table[col][0](), _label_type(col))
        doc.add("\n")


def _email(g: Gen, doc: Doc, entities: list[str], table: dict) -> None:
    doc.add(f"Subject: {g.words(2, 5)}\n\nHi {g.r.choice(FIRST).title()},\n\n{g.words(5, 15)}.\n")
    for kind in entities:
        gen, labels = table[kind]
        doc.add(f"{g.r.choice(labels).capitalize()}: ")
        doc.add(gen(), _label_type(kind))
        doc.add("\n")
    doc.add(f"\nOrder {g.order()} shipped on {g.timestamp()}; attachment {g.filename()}.\n")
    doc.add(f"Best,\n{g.r.choice(FIRST).title()}\n")


STYLES = {"chat": _chat, "log": _log, "json": _json, "code": _code, "csv": _csv, "email": _email}


def make_corpus(seed: int, docs: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    g = Gen(rng)
    table = _entity_table(g)
    kinds = list(table)
    weights = [8 if k in {"EMAIL", "PHONE", "IP_ADDRESS", "URL"} else 4 for k in kinds]
    out = []
    for i in range(docs):
        style = rng.choice(list(STYLES))
        negative = rng.random() < 0.35
        entities = [] if negative else rng.choices(kinds, weights, k=rng.randint(1, 4))
        if style == "log":
            entities = [k for k in entities if k != "PHONE_BARE"]
        doc = Doc()
        STYLES[style](g, doc, entities, table)
        out.append(
            {"id": i, "style": style, "negative": not doc.spans, "text": doc.text,
             "spans": doc.spans}
        )  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20241125)
    parser.add_argument("--docs", type=int, default=6000)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("pii_corpus.jsonl"))
    args = parser.parse_args()
    corpus = make_corpus(args.seed, args.docs)
    with args.out.open("w", encoding="utf-8") as fh:
        for record in corpus:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    negatives = sum(1 for r in corpus if r["negative"])
    print(f"wrote {len(corpus)} documents ({negatives / len(corpus):.0%} negative) to {args.out}")


if __name__ == "__main__":
    main()
