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
        with open(self.config, 'a') as f:
            f.write('\n[store]\ntemplates = %s\n' % os.path.join(e2e.SRC, 'templates'))
        parties = ['ref,kind,name,email'] + [
            'P%04d,client,Client %d,accueil%d@exemple.fr' % (i, i, i) for i in range(PARTIES)]
        contacts = ['party_ref,last_name,first_name,email,flags'] + [
            line for i in range(PARTIES) for line in (
                'P%04d,Martin,Élodie,compta%d@exemple.fr,invoice' % (i, i),
                'P%04d,Lefèvre,Jérôme,dir%d@exemple.fr,invoice|order' % (i, i))]
        docs = ['ref,party_ref,amount,due_date'] + [
            'F%05d,P%04d,%d.50,2026-12-31' % (d, d % PARTIES, d) for d in range(DOCS)]
        self.ok('parties', 'import', self.write('p.csv', '\n'.join(parties) + '\n'))
        self.ok('contacts', 'import', self.write('c.csv', '\n'.join(contacts) + '\n'))
        self.ok('documents', 'import', self.write('d.csv', '\n'.join(docs) + '\n'),
                '--type', 'invoice')
        self.new = self.path('spool', 'sent', 'new')

    def start_run(self):
        env = dict(os.environ)
        env.pop('POSTIER_CONFIG', None)
        return subprocess.Popen([e2e.POSTIER, '--config', self.config, 'run',
                                 '--date', '2026-11-23'], cwd=self.tmp, env=env,
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
        self.assertIn('intact', self.ok('history', 'verify').out)


if __name__ == '__main__':
    unittest.main()
