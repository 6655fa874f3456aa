#!/usr/bin/python3
"""End-to-end: crash safety of the nightly run (SPEC §5).  `postier run` is
killed with SIGKILL at several moments of a few thousand messages; the next
run, with no manual step, delivers every message exactly once into the
Maildir (whose file names are stable per message), and the history records
one `sent` per delivery and still verifies."""
import collections
import email
import email.policy
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402

PARTIES = 600
DOCS = 1500  # two recipients each: 3000 messages


class Crash(e2e.PostierCase):
    def setUp(self):
        super().setUp()
        self.append_config('\n[store]\ntemplates = %s\n' % e2e.TEMPLATES)
        self.import_invoice_book(PARTIES, DOCS)
        self.new = self.path('spool', 'sent', 'new')

    def start_run(self):
        env = dict(os.environ)
        env.pop('POSTIER_CONFIG', None)
        return subprocess.Popen(self.postier_argv('run', '--date', '2026-11-23'),
                                cwd=self.tmp, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def test_kill_9_loses_and_doubles_nothing(self):
        kills = 0
        for delay in (0.05, 0.2, 0.4, 0.7, 1.0, 1.5, 2.5):
            p = self.start_run()
            time.sleep(delay)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
            p.wait()
        self.assertGreater(kills, 0, 'the run finished before any kill: make it bigger')
        self.ok('run', '--date', '2026-11-23')  # recovery needs no manual step
        # every message exactly once in the Maildir
        by_id = collections.Counter()
        rcpts = collections.Counter()
        for name in os.listdir(self.new):
            with open(os.path.join(self.new, name), 'rb') as f:
                msg = email.message_from_bytes(f.read(), policy=email.policy.default)
            self.assertEqual(msg.defects, [])
            by_id[msg['Message-ID']] += 1
            rcpts[(msg['To'].addresses[0].addr_spec, msg['Subject'])] += 1
        self.assertEqual(len(by_id), DOCS * 2)
        self.assertEqual(max(by_id.values()), 1)
        self.assertEqual(max(rcpts.values()), 1)
        # the database agrees: one delivery per address, all sent, one sent row each
        self.assertEqual(self.sql("SELECT state, count(*) FROM delivery GROUP BY state"),
                         [('sent', DOCS * 2)])
        self.assertEqual(self.sql("SELECT count(*) FROM document WHERE processed_at IS NULL"),
                         [(0,)])
        sent = self.sql("SELECT message_id, count(*) FROM history WHERE event = 'sent' "
                        "GROUP BY message_id HAVING count(*) > 1")
        self.assertEqual(sent, [])
        self.assertEqual(self.sql("SELECT count(DISTINCT message_id) FROM history "
                                  "WHERE event = 'sent'"), [(DOCS * 2,)])
        self.assertEqual(os.listdir(self.path('spool', 'queue')), [])
        self.assertEqual(os.listdir(self.path('spool', 'tmp')), [])
        self.verify_history()


if __name__ == '__main__':
    unittest.main()
