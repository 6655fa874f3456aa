#!/usr/bin/python3
"""End-to-end: crash safety of the nightly run over SMTP (SPEC §4, §5).
`postier run` sends a few thousand messages with 4 parallel connections to
an aiosmtpd peer (tests/e2e/smtp_peer.py) and is killed with SIGKILL several
times: early (while it resolves and spools) and in the middle of the
dispatch (once the peer has accepted more messages).  The next run, with no
manual step, delivers every message not yet accepted; only the messages in
flight at a kill may arrive twice (at most `connections` per kill, each
recognisable by its stable Message-ID); the history ends with exactly one
`sent` row per message and still verifies; a further run sends nothing."""
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
import smtp_peer  # noqa: E402
from e2e import mid  # noqa: E402

PARTIES = 600
DOCS = 1500  # two recipients each: 3000 messages
MESSAGES = DOCS * 2
CONNECTIONS = 4
DATE = '2026-11-23'
EARLY_KILLS = (0.01, 0.05, 0.15)  # seconds: start, resolve, render, spool
DISPATCH_KILLS = 5                # each once the peer accepted ~1/7 more
BUDGET = 100                      # seconds for the kill phase, at most


class SmtpCrash(e2e.PostierCase):
    def setUp(self):
        super().setUp()
        self.peer = smtp_peer.Peer(self.path('peer'), mode='accept', port=0)
        self.peer.start()
        self.addCleanup(self.peer.stop)
        self.append_config(
            '\n[store]\ntemplates = %s\n' % e2e.TEMPLATES +
            '[email]\ntransport = smtp\n'
            '[smtp]\nurl = smtp://127.0.0.1:%d\nconnections = %d\n'
            'max_attempts = 5\ntimeout = 30\nrate_per_second = 0\n'
            'rate_per_hour = 0\nstarttls = never\n'
            % (self.peer.port, CONNECTIONS))
        self.import_invoice_book(PARTIES, DOCS)

    def start_run(self):
        self.errlog = self.path('run.err')
        with open(self.errlog, 'wb') as err:
            return subprocess.Popen(self.postier_argv('run', '--date', DATE), cwd=self.tmp,
                                    env=self.postier_env(),
                                    stdout=subprocess.DEVNULL, stderr=err)

    def finished(self, p, what):
        """A run that ended by itself (not killed) must have succeeded."""
        rc = p.wait()
        with open(self.errlog, 'rb') as f:
            err = f.read().decode('utf-8', 'replace')
        self.assertEqual(rc, 0, 'run %s exited %d by itself:\n%s' % (what, rc, err))

    def spool_state(self):
        """{path: size} of what is in spool/tmp and spool/queue."""
        out = {}
        for sub in ('tmp', 'queue'):
            d = self.path('spool', sub)
            try:
                names = os.listdir(d)
            except FileNotFoundError:
                continue
            for n in names:
                try:
                    out[sub + '/' + n] = os.path.getsize(os.path.join(d, n))
                except FileNotFoundError:
                    pass
        return out

    def kill_when(self, what, cond, poll=0.001):
        """Starts a run, kills it with SIGKILL as soon as cond(before, t0)
        is true (before: messages accepted when it started, t0: its start on
        time.monotonic()), and records the
        kill in self.kills as (what, messages the peer accepted meanwhile).
        A run that ends first must have succeeded."""
        before = self.peer.accepted_count()
        p = self.start_run()
        t0 = time.monotonic()
        while p.poll() is None:
            if cond(before, t0) or time.monotonic() - self.start > BUDGET:
                p.send_signal(signal.SIGKILL)
                p.wait()
                self.kills.append((what, self.peer.accepted_count() - before))
                return
            time.sleep(poll)
        self.finished(p, '(%s)' % what)

    def test_kill_9_delivers_everything_with_bounded_duplicates(self):
        self.start = time.monotonic()
        self.kills = []
        # early kills, while a fresh run starts, resolves and spools: after
        # a fixed delay, and the moment a spool file appears or grows
        def after(delay):
            return lambda before, t0: time.monotonic() - t0 >= delay
        self.kill_when('after %.2f s' % EARLY_KILLS[0], after(EARLY_KILLS[0]))
        spool0 = self.spool_state()
        self.kill_when('while spooling',
                       lambda before, t0: self.spool_state() != spool0, poll=0.0005)
        for delay in EARLY_KILLS[1:]:
            self.kill_when('after %.2f s' % delay, after(delay))
        # dispatch kills: once the run got the peer to accept a slice of the
        # remaining messages, kill it mid-stream
        for i in range(DISPATCH_KILLS):
            done = self.peer.accepted_count()
            if done >= MESSAGES:
                break
            step = max(CONNECTIONS * 2, (MESSAGES - done) // (DISPATCH_KILLS + 2 - i))
            self.kill_when('after %d accepted' % step,
                           lambda before, t0: self.peer.accepted_count() >= before + step,
                           poll=0.01)
        kills = len(self.kills)
        self.assertGreater(kills, 0, 'the run finished before any kill: make it bigger')
        self.assertTrue([k for k in self.kills if k[1] == 0],
                        'no kill before the dispatch: %r' % self.kills)
        self.assertTrue([k for k in self.kills if k[1] > 0],
                        'no kill while messages were being accepted: %r' % self.kills)

        self.ok('run', '--date', DATE)  # recovery needs no manual step

        # the expected messages: one Message-ID per (document, recipient)
        queued = self.json('history', 'list', '--status', 'queued')
        expected = {mid(r['message_id']) for r in queued}
        self.assertEqual(len(expected), MESSAGES,
                         'history should queue one Message-ID per (document, recipient)')
        pairs = {(r['document_ref'], r['address']) for r in queued}
        self.assertEqual(len(pairs), MESSAGES)

        # what the peer accepted: every message at least once, duplicates
        # only for messages in flight at a kill
        received = self.peer.messages()
        by_id = collections.Counter()
        for m in received:
            raw = m['data'] if isinstance(m['data'], bytes) else m['data'].encode('utf-8')
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            for part in msg.walk():
                self.assertEqual(part.defects, [], 'defects in %s' % m['message_id'])
            header = mid(msg['Message-ID'])
            self.assertEqual(header, mid(m['message_id']))
            rcpts = [r.lower() for r in m['rcpt']]
            self.assertEqual(len(rcpts), 1, rcpts)
            self.assertEqual(rcpts[0], msg['To'].addresses[0].addr_spec.lower())
            by_id[header] += 1
        self.assertEqual(set(by_id) - expected, set(), 'unexpected messages at the peer')
        self.assertEqual(expected - set(by_id), set(), 'messages never delivered')
        dups = sum(n - 1 for n in by_id.values())
        self.assertLessEqual(dups, CONNECTIONS * kills,
                             '%d duplicates for %d kills' % (dups, kills))

        # the history: exactly one `sent` per message, intact chain
        sent = collections.Counter(
            mid(r['message_id']) for r in self.json('history', 'list', '--status', 'sent'))
        self.assertEqual(set(sent), expected)
        self.assertEqual(max(sent.values()), 1,
                         [k for k, n in sent.items() if n > 1][:5])
        self.assertEqual(self.sql("SELECT state, count(*) FROM delivery GROUP BY state"),
                         [('sent', MESSAGES)])
        self.assertEqual(self.sql("SELECT count(*) FROM document WHERE processed_at IS NULL"),
                         [(0,)])
        self.assertEqual(os.listdir(self.path('spool', 'queue')), [])
        self.assertEqual(os.listdir(self.path('spool', 'tmp')), [])
        self.verify_history()

        # a further run sends nothing
        rows = len(self.json('history', 'list'))
        self.ok('run', '--date', DATE)
        self.assertEqual(len(self.peer.messages()), len(received))
        self.assertEqual(len(self.json('history', 'list', '--status', 'sent')), MESSAGES)
        self.assertEqual(len(self.json('history', 'list')), rows)
        sys.stderr.write('\n  %d kills (%s), %d messages, %d duplicates, %.1f s\n'
                         % (kills, ', '.join('%s: %d accepted' % k for k in self.kills),
                            MESSAGES, dups, time.monotonic() - self.start))


if __name__ == '__main__':
    unittest.main()
