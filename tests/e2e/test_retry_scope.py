#!/usr/bin/python3
"""End-to-end: what `postier retry` touches, and nothing more (issue 16,
defects found in point 3).  It sends only the failed messages the filters
select (never to an address, in any case, that already got the document;
never to a recipient that never had a failed message); it writes rows
only for the recipients concerned; it keeps a failed message whose
contact is excluded today for a reason that may pass; `--since` is a
local date; `--reason` reads the delivery row; its dispatcher sends only
what it re-queued (and the deferred messages of the documents it
selects).  And the run's summary adds up.  Real peers: the Maildir and
aiosmtpd (smtp_peer.py)."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import smtp_peer  # noqa: E402
from test_retry import BROKEN, DATE, GOOD, RetryCase  # noqa: E402,F401


class RetryScope(RetryCase):
    def skipped_rows(self, reason):
        return [h for h in self.history_rows() if h['event'] == 'skipped'
                and h['reason'] == reason]

    def test_new_recipient_gets_nothing(self):
        """F001 failed for A; a contact added since with the invoice flag
        is not one of its failed messages: retry never sends it there."""
        a = 'compta@lefevre.example'
        self.book([a])
        self.template('invoice', BROKEN)
        self.run_job(rc=1)
        self.add_contact('--party', 'P1', '--last-name', 'Nouveau', '--email',
                         'nouveau@lefevre.example', '--flags', 'invoice')
        self.template('invoice', GOOD)
        before = len(self.history_rows())
        for args in (['--dry-run'], ['--reason', 'template'], ['--document', 'F001'], []):
            r = self.retry(*args, rc=0)
            self.assertNotIn('nouveau@', r.out, (args, r))
        self.assertEqual([m[0] for m in self.mails()], [a])
        self.assertEqual([h['address'] for h in self.history_rows()[before:]], [a, a])
        self.assertEqual(self.sql("SELECT count(*) FROM delivery WHERE address LIKE 'nouveau@%'"),
                         [(0,)])

    def test_skipped_rows_not_written_again(self):
        """A contact with no e-mail is skipped once, by the run; each retry
        writes no `skipped` row for it again, nor counts it."""
        a = 'compta@lefevre.example'
        self.book([a, ''])
        self.template('invoice', BROKEN)
        r = self.run_job(rc=1)
        self.assertEqual(self.run_summary(r)['skipped'], 1, r)
        self.assertEqual(len(self.skipped_rows('no_email')), 1)
        for _ in range(2):
            r = self.retry(rc=1)  # still broken
            self.assertEqual(self.retry_summary(r)['skipped'], 0, r)
        self.assertEqual(len(self.skipped_rows('no_email')), 1)
        self.template('invoice', GOOD)
        r = self.retry(rc=0)
        self.assertEqual((self.retry_summary(r)['sent'], self.retry_summary(r)['skipped']),
                         (1, 0), r)
        self.assertEqual(len(self.skipped_rows('no_email')), 1)

    def test_excluded_today_stays_failed(self):
        """A failed message whose contact is excluded today for a reason
        that may pass (inactive) stays failed, waits for a later retry and
        says why; a deleted contact's is forgotten."""
        a, b = 'compta@lefevre.example', 'direction@lefevre.example'
        self.book([a, b])
        self.template('invoice', BROKEN)
        self.run_job(rc=1)
        cid = [c['id'] for c in self.contacts() if c['email'] == b][0]
        self.ok('contacts', 'end', cid, '--date', '2026-01-01')
        self.template('invoice', GOOD)
        r = self.retry('--dry-run', rc=0)
        self.assertIn('invoice F001: %s stays failed (inactive)' % b, r.out)
        r = self.retry(rc=0)
        self.assertEqual(self.waiting(r), 1, r)
        self.assertIn(', 1 skipped (inactive 1)\n', r.out, r)
        self.assertEqual(self.sql("SELECT state FROM delivery WHERE address = ?", (b,)),
                         [('failed',)])
        # active again: the retry sends it
        self.ok('contacts', 'edit', cid, '--valid-until', '')
        r = self.retry(rc=0)
        self.assertEqual(self.retry_summary(r)['sent'], 1, r)
        self.assertEqual(sorted(m[0] for m in self.mails()), [a, b])
        self.assertEqual(self.waiting(r), 0, r)

    def test_since_is_a_local_date(self):
        """--since D means from local midnight of D ([run] timezone)."""
        a = 'compta@lefevre.example'
        self.append_config('timezone = Europe/Paris\n')
        self.book([a])
        self.template('invoice', BROKEN)
        self.run_job(rc=1)
        # failed at 00:30 in Paris on the 23rd: 23:30 UTC on the 22nd
        self.sql("UPDATE delivery SET updated_at = '2026-11-22T23:30:00Z'")
        self.template('invoice', GOOD)
        r = self.retry('--since', '2026-11-24', rc=0)
        self.assertEqual(self.retry_summary(r)['documents'], 0, r)
        r = self.retry('--since', '2026-11-23', rc=0)
        self.assertEqual(self.retry_summary(r)['sent'], 1, r)

    def test_reason_kept_on_the_delivery(self):
        """The last failure's reason is on the delivery row: --reason reads
        it there (not the history)."""
        a = 'compta@lefevre.example'
        self.book([a])
        self.template('invoice', BROKEN)
        self.run_job(rc=1)
        self.assertEqual(self.sql('SELECT state, reason FROM delivery'), [('failed', 'template')])
        self.template('invoice', GOOD)
        r = self.retry('--reason', 'template', rc=0)
        self.assertEqual(self.retry_summary(r)['sent'], 1, r)
        # the last failure's, kept
        self.assertEqual(self.sql('SELECT state, reason FROM delivery'), [('sent', 'template')])

    def test_summary_adds_up(self):
        """Messages that fail before being queued are counted among the
        messages; failure reasons follow `failed`, skip reasons `skipped`."""
        self.book(['compta@lefevre.example', 'direction@lefevre.example',
                   'ancien@lefevre.example'])
        cid = [c['id'] for c in self.contacts() if c['email'].startswith('ancien')][0]
        self.ok('contacts', 'end', cid, '--date', '2026-01-01')
        self.template('invoice', BROKEN)
        r = self.run_job(rc=1)
        self.assertEqual(self.run_summary_line(r),
                         'run %s: 1 document, 2 messages queued, 0 sent, 0 deferred, '
                         '2 failed (template 2), 1 skipped (inactive 1)' % DATE)
        self.template('invoice', GOOD)
        r = self.retry(rc=0)
        self.assertRegex(r.out, r'(?m)^retry \d{4}-\d\d-\d\d: 1 document, 2 messages queued, '
                         r'2 sent, 0 deferred, 0 failed, 0 skipped$')


class RetryScopeSmtp(RetryCase):
    def setUp(self):
        super().setUp()
        self.peer = smtp_peer.Peer(self.path('peer'), mode='reject').start()
        self.addCleanup(self.peer.stop)
        self.append_config('\n[email]\ntransport = smtp\n[smtp]\nurl = %s\n'
                           'connections = 2\nmax_attempts = 2\ntimeout = 10\n' % self.peer.url)

    def accept(self, mode='accept'):
        self.peer.stop()
        self.peer.mode = mode
        self.peer.start()

    def rcpts(self):
        return sorted(x for m in self.peer.messages() for x in m['rcpt'])

    def test_case_changed_address_not_sent_twice(self):
        """Alice got F001; Bob's was refused.  Alice's address is retyped
        with a capital: the retry sends Bob's only."""
        alice, bob = 'alice@lefevre.example', 'bad.bob@lefevre.example'
        self.book([alice, bob])
        self.template('invoice', GOOD)
        r = self.run_job(rc=1)
        self.assertEqual(self.rcpts(), [alice], r)
        cid = [c['id'] for c in self.contacts() if c['email'] == alice][0]
        self.ok('contacts', 'edit', cid, '--email', 'Alice@lefevre.example')
        self.accept()
        r = self.retry('--dry-run', rc=0)
        self.assertNotIn('Alice@', r.out, r)
        r = self.retry(rc=0)
        self.assertEqual(self.retry_summary(r)['sent'], 1, r)
        self.assertEqual(self.rcpts(), [alice, bob])
        self.assertEqual(self.sql('SELECT address, state FROM delivery ORDER BY id'),
                         [(alice, 'sent'), (bob, 'sent')])

    def test_reason_set_by_a_5xx(self):
        bob = 'bad.bob@lefevre.example'
        self.book([bob])
        self.template('invoice', GOOD)
        self.run_job(rc=1)
        self.assertEqual(self.sql('SELECT state, reason FROM delivery'), [('failed', 'rejected')])

    def test_retry_sends_only_what_it_selected(self):
        """retry --document F001 sends F001's failed message, not another
        document's deferred one; a retry without filter sends that too."""
        a = 'compta@lefevre.example'
        self.book([a])
        self.template('invoice', BROKEN)
        self.run_job(rc=1)
        self.template('invoice', GOOD)
        self.accept('tempfail-always')
        self.add_docs('invoice', ['F002'])
        r = self.run_job(rc=75)
        self.assertEqual(self.run_summary(r)['deferred'], 1, r)
        self.accept()
        r = self.retry('--document', 'F001', rc=0)
        s = self.retry_summary(r)
        self.assertEqual((s['sent'], s['deferred']), (1, 0), r)
        self.assertEqual(len(self.peer.messages()), 1)
        self.assertEqual(self.events(a, 'F002')[-1][0], 'deferred')
        r = self.retry(rc=0)
        self.assertEqual(self.retry_summary(r)['sent'], 1, r)
        self.assertEqual(self.events(a, 'F002')[-1], ('sent', None))


if __name__ == '__main__':
    e2e.main()
