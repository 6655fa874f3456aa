#!/usr/bin/python3
"""End-to-end: what `postier run` tells cron and systemd (SPEC §5, §6).
The exit status says what happened (0 everything sent, 1 something failed
for good, 75 nothing failed but something is left for the next run); the
summary's counts add up; a run refused by the lock names the holder and
prints no summary; SIGTERM (systemd's stop, Ctrl-C) stops taking work,
finishes and records what is in flight, releases the lock and exits 75,
and a second signal stops at once.  Against a real SMTP server
(smtp_peer.py); every wait is on an observable event, never a sleep."""
import datetime
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
from e2e import free_port  # noqa: E402
from test_smtp import DATE, SmtpCase  # noqa: E402

EX_TEMPFAIL = 75
ADDRS = ['compta@lefevre.example', 'direction@lefevre.example', 'anne@lefevre.example']


def wait_for(what, cond, timeout=30):
    """Polls cond() until true (an event of another process), or fails."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError('timed out waiting for %s' % what)


class ExitStatus(SmtpCase):
    def assert_adds_up(self, s):
        self.assertEqual(s['queued'], s['sent'] + s['deferred'] + s['failed'], s)

    def test_server_down_everything_deferred_exit_75(self):
        self.book(ADDRS)
        # one connection: today the messages behind the first went uncounted
        self.smtp_config('smtp://127.0.0.1:%d' % free_port(), connections=1, max_attempts=5,
                         timeout=5)
        r = self.run_job()
        self.assertEqual(r.rc, EX_TEMPFAIL, r)
        s = self.run_summary(r)
        self.assertEqual(s, dict(documents=1, queued=3, sent=0, deferred=3, failed=0,
                                 skipped=0))
        self.assertIn('cannot connect', r.err)
        self.assertEqual(len(r.err.strip().splitlines()), 1, r)
        self.assertEqual(self.sql("SELECT count(*) FROM delivery WHERE state IN "
                                  "('queued', 'deferred')"), [(3,)])

    def test_tempfail_deferred_exit_75_then_0(self):
        self.book(ADDRS[:2])
        peer = self.start_peer('tempfail-always')
        self.smtp_config(peer, max_attempts=1)
        r = self.run_job(rc=EX_TEMPFAIL)
        s = self.run_summary(r)
        self.assertEqual((s['queued'], s['sent'], s['deferred'], s['failed']), (2, 0, 2, 0))
        peer.stop()
        peer.mode = 'accept'
        peer.start()
        r = self.run_job(rc=0)
        self.assertEqual(self.run_summary(r)['sent'], 2)

    def test_failed_and_deferred_exit_1(self):
        """A permanent failure outweighs a deferral: exit 1."""
        self.book(['bad.one@lefevre.example', 'compta@lefevre.example'])
        peer = self.start_peer('reject')
        self.smtp_config(peer, max_attempts=1)
        r = self.run_job(rc=1)
        s = self.run_summary(r)
        self.assertEqual((s['queued'], s['sent'], s['deferred'], s['failed']), (2, 1, 0, 1))
        self.assert_adds_up(s)

    def test_shipped_unit_75_success_1_failure(self):
        with open(os.path.join(e2e.SRC, 'config', 'postier-run.service')) as f:
            unit = f.read()
        ok = re.findall(r'(?m)^SuccessExitStatus=(.*)$', unit)
        self.assertEqual(len(ok), 1, unit)
        self.assertEqual(ok[0].split(), ['75'])


class Lock(SmtpCase):
    def test_refused_by_the_lock_names_the_holder(self):
        self.book(ADDRS[:1])
        peer = self.start_peer(delay=3)
        self.smtp_config(peer)
        env = self.postier_env({'TZ': 'UTC'})
        holder = subprocess.Popen(self.postier_argv('run', '--date', DATE), cwd=self.tmp,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: holder.poll() is None and holder.kill())
        wait_for('the first run to send', lambda: any(
            e['cmd'] == 'RCPT' for e in peer.events()))
        r = self.run_postier('run', '--date', DATE, env={'TZ': 'UTC'})
        self.assertEqual(r.rc, EX_TEMPFAIL, r)
        self.assertEqual(r.out, '', 'no summary of a run that did nothing:\n%r' % r)
        lines = r.err.strip().splitlines()
        self.assertEqual(len(lines), 1, r)
        self.assertIn('pid %d' % holder.pid, lines[0])
        m = re.search(r'started (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)', lines[0])
        self.assertTrue(m, r)
        started = datetime.datetime.strptime(m.group(1), '%Y-%m-%d %H:%M:%S')
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        self.assertLess(abs((now - started).total_seconds()), 120, (now, started))
        out, _ = holder.communicate(timeout=60)
        self.assertEqual(holder.returncode, 0, out)
        self.assertEqual(len(peer.messages()), 1)


class Sigterm(SmtpCase):
    ADDRS = ['c%02d@lefevre.example' % i for i in range(6)]
    DOCS = 5  # 30 messages

    def start_run(self, peer_delay):
        self.book(self.ADDRS, docs=self.DOCS)
        peer = self.start_peer(delay=peer_delay)
        self.smtp_config(peer, connections=2)
        p = subprocess.Popen(self.postier_argv('run', '--date', DATE), cwd=self.tmp,
                             env=self.postier_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        wait_for('a first message accepted', lambda: peer.accepted_count() >= 1)
        return peer, p

    def assert_all_once(self, peer):
        """The next run recovers: every message accepted once (by id)."""
        r = self.run_job(rc=0)
        ids = [m['message_id'] for m in peer.messages()]
        self.assertEqual(len(set(ids)), len(self.ADDRS) * self.DOCS)
        self.assertEqual(self.sql("SELECT state, count(*) FROM delivery GROUP BY state"),
                         [('sent', len(self.ADDRS) * self.DOCS)])
        self.assertEqual(os.listdir(self.path('spool', 'queue')), [])
        self.verify_history()
        return ids, r

    def test_sigterm_finishes_in_flight_and_exits_75(self):
        peer, p = self.start_run(0.3)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
        out, err = out.decode(), err.decode()
        self.assertEqual(p.returncode, EX_TEMPFAIL, (out, err))
        s = self.run_summary(e2e.Result([], p.returncode, out, err))
        total = len(self.ADDRS) * self.DOCS
        self.assertEqual(s['queued'], total, out)
        self.assertEqual(s['failed'], 0)
        self.assertLess(s['sent'], total, 'not stopped: everything was sent')
        self.assertEqual(s['sent'] + s['deferred'], total, out)
        # what was in flight was finished and recorded: whatever the server
        # accepted has its `sent` row, and nothing more
        accepted = sorted(m['message_id'] for m in peer.messages())
        sent = sorted(h['message_id'] for h in self.history() if h['event'] == 'sent')
        self.assertEqual([e2e.mid(x) for x in accepted], [e2e.mid(x) for x in sent])
        self.assertEqual(len(sent), s['sent'])
        self.verify_history()
        # the lock is released and the next run sends the rest, once each
        ids, r = self.assert_all_once(peer)
        self.assertEqual(len(ids), total, 'a message went twice')
        self.assertEqual(self.run_summary(r)['sent'], total - s['sent'])

    def test_second_signal_stops_at_once(self):
        peer, p = self.start_run(5)
        p.send_signal(signal.SIGTERM)
        # the first signal is acknowledged on stderr; the second one kills
        line = p.stderr.readline().decode()
        self.assertIn('stopping', line)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=4)  # the messages in flight need 5 s more
        self.assertEqual(p.returncode, -signal.SIGTERM)
        p.stdout.close()
        p.stderr.close()
        peer.stop()
        peer.delay = 0
        peer.start()
        ids, _ = self.assert_all_once(peer)
        # at most the messages in flight (2 connections) went twice
        self.assertLessEqual(len(ids) - len(set(ids)), 2)


if __name__ == '__main__':
    unittest.main()
