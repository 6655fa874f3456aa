#!/usr/bin/python3
"""End-to-end: `postier demo` builds a usable demo book in a given or a
temporary folder, and refuses to overwrite an existing one."""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

POSTIER = os.environ["POSTIER"]


def run(*args, check=True):
    p = subprocess.run([POSTIER, *args], capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"{args}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


class Demo(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="postier-e2e-demo-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_demo_in_given_folder(self):
        d = os.path.join(self.tmp, "book")
        out = run("demo", d).stdout
        self.assertIn(f"The demo book is in {d}", out)
        cfg = os.path.join(d, "config", "postier.ini")
        for f in ("postier.db", "parties.csv", "addresses.csv", "contacts.csv",
                  "spool/queue", "spool/sent/new"):
            self.assertTrue(os.path.exists(os.path.join(d, f)), f)
        contacts = json.loads(run("--config", cfg, "contacts", "list", "--all",
                                  "--format", "json").stdout)
        active = json.loads(run("--config", cfg, "contacts", "list",
                                "--format", "json").stdout)
        self.assertGreaterEqual(len(contacts), 10)
        self.assertLess(len(active), len(contacts), "the book has a historical contact")
        parties = json.loads(run("--config", cfg, "parties", "list", "--format", "json").stdout)
        kinds = {p["kind"] for p in parties}
        self.assertEqual(kinds, {"client", "supplier", "company", "introducer", "claim"})
        claim = [p for p in parties if p["kind"] == "claim"][0]
        self.assertTrue(claim["client_ref"])
        on_claim = {c["type"] for c in contacts if c["party_ref"] == claim["ref"]}
        self.assertTrue({"exp", "gar"} <= on_claim, on_claim)
        flags = {f for c in contacts for f in (c["flags"] or "").split("|") if f}
        self.assertGreaterEqual(len(flags), 7, flags)
        consents = {f for c in contacts for f in (c["consents"] or "").split("|") if f}
        self.assertEqual(consents, {"commercial", "partner", "esign", "sms_marketing"})
        # the table shown by the demo lists the active contacts
        footer = re.search(r"page 1/1, (\d+) contacts", out)
        self.assertIsNotNone(footer, out)
        self.assertEqual(int(footer.group(1)), len(active))
        # accents ignored by the suggested search
        hits = json.loads(run("--config", cfg, "contacts", "list", "--search", "HELENE",
                              "--format", "json").stdout)
        self.assertEqual([h["first_name"] for h in hits], ["Hélène"])
        db = sqlite3.connect(os.path.join(d, "postier.db"))
        self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "wal")
        db.close()

    def test_demo_refuses_existing_book(self):
        d = os.path.join(self.tmp, "book")
        run("demo", d)
        p = run("demo", d, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("already holds a demo database", p.stderr)

    def test_demo_in_temporary_folder(self):
        out = run("demo").stdout
        m = re.search(r"The demo book is in (\S+)\.", out)
        self.assertIsNotNone(m, out)
        d = m.group(1)
        try:
            self.assertTrue(d.startswith("/tmp/postier-demo-"))
            self.assertTrue(os.path.exists(os.path.join(d, "postier.db")))
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
