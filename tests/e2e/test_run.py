#!/usr/bin/python3
"""End-to-end: the nightly run (SPEC §2, §3, §5).  Imports a book and
documents, runs, reads the Maildir with Python's strict email parser, checks
recipients, bodies and skip reasons in the history, runs again to prove
nothing is sent twice, and breaks the hash chain to prove `history verify`
sees it."""
import email
import email.policy
import glob
import json
import os
import shutil
import sqlite3
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402

PARTIES = """ref,kind,name,civility,first_name,last_name,email,phones,locale,client_ref
C1,client,Boulangerie Lefèvre SARL,,,,accueil@lefevre.fr,,fr,
C2,client,Harbour Ltd,Mr,James,Whitaker,james@harbour.example,,en,
C3,client,Sans Contact SA,,,,standard@sanscontact.fr,,fr,
K1,claim,Sinistre 42,,,,,,fr,C1
"""
ADDRESSES = """party_ref,label,lines,postcode,city,country,contact_name,contact_email,contact_phone
C1,Siège,1 rue de la Paix,75002,Paris,France,Accueil Siège,siege@lefevre.fr,
C1,Atelier,2 rue du Four,93100,Montreuil,France,Atelier,,
"""
CONTACTS = """party_ref,type,civility,last_name,first_name,company,email,site,locale,display_order,valid_from,valid_until,flags,consents
C1,,Mme,Martin,Élodie,,compta@lefevre.fr,Siège,fr,1,,,invoice|payment_reminder,esign
C1,,M.,Lefèvre,Antoine,,antoine@lefevre.fr,,fr,2,,,invoice|order,
C1,,Mme,Petit,Claire,,claire@lefevre.fr,,fr,3,,2025-06-30,invoice,
C1,,M.,Sansmail,Paul,,,,fr,4,,,invoice,
C1,,M.,Doublon,Luc,,COMPTA@lefevre.fr,,fr,5,,,invoice,
C1,,M.,Benali,Karim,,atelier@lefevre.fr,Atelier,fr,6,,,order,
C2,,Mr,Whitaker,James,,accounts@harbour.example,,en,1,,,invoice,
K1,exp,M.,Blanc,Étienne,Cabinet Blanc,expert@blanc.fr,,fr,1,,,claim_settlement,
K1,gar,,,,Garage de l'Estuaire,garage@estuaire.fr,,fr,2,,,claim_settlement,
"""
INVOICES = """ref,party_ref,amount,due_date,lines
F1,C1,1234.56,2026-12-15,"[{""label"": ""Farine"", ""amount"": ""1000""}, {""label"": ""Livraison <express>"", ""amount"": ""234.56""}]"
F2,C2,99.5,2026-12-31,
F3,C3,10,2026-12-31,
"""
ORDERS = """ref,party_ref,address,amount
O1,C1,Atelier,42
"""
CLAIMS = """ref,party_ref,amount
S1,K1,3180
"""


class Run(e2e.PostierCase):
    def setUp(self):
        super().setUp()
        self.ok('types', 'add', '--code', 'exp', '--label', 'Expert')
        self.ok('types', 'add', '--code', 'gar', '--label', 'Garage')
        self.ok('parties', 'import', self.write('parties.csv', PARTIES))
        self.ok('addresses', 'import', self.write('addresses.csv', ADDRESSES))
        self.ok('contacts', 'import', self.write('contacts.csv', CONTACTS))
        self.ok('documents', 'import', self.write('inv.csv', INVOICES), '--type', 'invoice')
        self.ok('documents', 'import', self.write('ord.csv', ORDERS), '--type', 'order')
        self.ok('documents', 'import', self.write('clm.csv', CLAIMS), '--type', 'claim_settlement')
        # the shipped templates
        with open(self.config, 'a') as f:
            f.write('\n[store]\ntemplates = %s\n[sender]\nname = Cabinet Durand\n'
                    'email = contact@cabinet-durand.fr\n' % os.path.join(e2e.SRC, 'templates'))
        self.maildir = self.path('spool', 'sent')

    def crowd(self, party, n=4000):
        """Makes the planner slow, whatever the machine's disk: n contacts of
        party that no document reaches (no flags) are read to resolve each
        of its documents (here about 3.4 ms a document, a plan of 200 in
        0.7 s: seven times the 0.1 s a transaction waits for more plans, so
        that a machine several times faster still writes one plan a
        transaction).  The run then waits for each plan outside its
        transactions, and the Maildir writers deliver the earlier ones
        meanwhile."""
        rows = ['party_ref,last_name'] + ['%s,Crowd%04d' % (party, k) for k in range(n)]
        self.ok('contacts', 'import', self.write('crowd-%s.csv' % party, '\n'.join(rows) + '\n'))

    def messages(self):
        out = {}
        for p in sorted(glob.glob(os.path.join(self.maildir, 'new', '*'))):
            with open(p, 'rb') as f:
                raw = f.read()
            self.assertNotIn(b'\n', raw.replace(b'\r\n', b''), 'bare LF in ' + p)
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            self.assertEqual(msg.defects, [], p)
            for part in msg.walk():
                self.assertEqual(part.defects, [], p)
            to = msg['To'].addresses[0].addr_spec
            out.setdefault(to, []).append(msg)
        return out

    def history(self, *args):
        return self.json('history', 'list', *args)

    def test_run_sends_to_the_right_people(self):
        r = self.ok('run', '--date', '2026-11-23')
        self.assertIn('documents', r.out)
        msgs = self.messages()
        self.assertEqual(sorted(msgs), sorted([
            'compta@lefevre.fr', 'antoine@lefevre.fr',  # F1 (and O1: no-site contact)
            'accounts@harbour.example',                 # F2 (English)
            'standard@sanscontact.fr',                  # F3: fallback to the main contact
            'atelier@lefevre.fr',                       # O1: contact at the document's site
            'expert@blanc.fr', 'garage@estuaire.fr',    # S1 on the claim
        ]))
        self.assertEqual(len(msgs['antoine@lefevre.fr']), 2)
        f1 = [m for m in msgs['compta@lefevre.fr']][0]
        self.assertIn('F1', f1['Subject'])
        self.assertEqual(f1['To'].addresses[0].display_name, 'Élodie Martin')
        self.assertEqual(f1['From'].addresses[0].addr_spec, 'contact@cabinet-durand.fr')
        text = f1.get_body(('plain',)).get_content()
        self.assertIn('Bonjour Mme Élodie Martin', text)
        self.assertIn('Farine', text)
        self.assertIn('1\u202f234,56\u00a0€', text)
        self.assertIn('15/12/2026', text)
        html = f1.get_body(('html',)).get_content()
        self.assertIn('Livraison &lt;express&gt;', html)
        self.assertEqual(f1['Auto-Submitted'], 'auto-generated')
        en = msgs['accounts@harbour.example'][0]
        self.assertIn('Your invoice F2', en['Subject'])
        self.assertIn('€99.50', en.get_body(('plain',)).get_content())
        claim = msgs['expert@blanc.fr'][0].get_body(('plain',)).get_content()
        self.assertIn('Étienne Blanc', claim)

    def test_skipped_reasons_in_history(self):
        self.ok('run', '--date', '2026-11-23')
        skipped = self.history('--status', 'skipped')
        got = sorted((h['document_ref'], h['address'] or '', h['reason']) for h in skipped)
        self.assertEqual(got, [
            ('F1', '', 'no_email'),
            ('F1', 'COMPTA@lefevre.fr', 'duplicate_address'),
            ('F1', 'claire@lefevre.fr', 'inactive'),
        ])
        sent = self.history('--status', 'sent')
        self.assertEqual(len(sent), 8)
        for h in sent:
            self.assertTrue(h['message_id'].startswith('<') and h['message_id'].endswith('>'))
            self.assertEqual(len(h['template_sha256']), 64)
            self.assertEqual(h['server_reply'], '250 delivered to Maildir new/%s.postier'
                             % h['message_id'][1:].split('@')[0])
            self.assertRegex(h['template'], r'^[a-z_]+/(fr|en)\.eml\.tmpl$')
            self.assertEqual(len(h['hash']), 64)

    def test_second_run_sends_nothing(self):
        self.ok('run', '--date', '2026-11-23')
        first = sorted(os.listdir(os.path.join(self.maildir, 'new')))
        rows = len(self.history())
        r = self.ok('run', '--date', '2026-11-23')
        self.assertIn('0 documents', r.out)
        self.assertEqual(sorted(os.listdir(os.path.join(self.maildir, 'new'))), first)
        self.assertEqual(len(self.history()), rows)
        # a new document later is sent, and only it
        self.ok('documents', 'import', self.write('inv2.csv',
                'ref,party_ref,amount\nF9,C2,5\n'), '--type', 'invoice')
        self.ok('run', '--date', '2026-11-24')
        self.assertEqual(len(os.listdir(os.path.join(self.maildir, 'new'))), len(first) + 1)

    def test_big_attachments_cut_the_batches(self):
        # 14 invoices of 1 MB each: more than a batch holds in memory (8 MB),
        # so the run cuts its batches; every one is sent once, whole
        pdfs = {}
        rows = ['ref,party_ref,amount,attachment']
        for k in range(14):
            pdf = b'%PDF-1.4\n' + os.urandom(1 << 20) + b'\n%%EOF\n'
            ref = 'B%02d' % k
            pdfs[ref] = pdf
            self.write(os.path.join('documents', ref + '.pdf'), pdf)
            rows.append('%s,C2,%d,%s' % (ref, k + 1, ref + '.pdf'))
        self.ok('documents', 'import', self.write('big.csv', '\n'.join(rows) + '\n'),
                '--type', 'invoice')
        # each batch marks its documents processed after writing its
        # deliveries: the delivery count seen then tells the batches apart
        self.sql('CREATE TABLE cutlog (n INTEGER)')
        self.sql("CREATE TRIGGER cut AFTER UPDATE OF processed_at ON document "
                 "WHEN NEW.ref LIKE 'B%' BEGIN "
                 "INSERT INTO cutlog VALUES ((SELECT count(*) FROM delivery)); END")
        self.ok('run', '--date', '2026-11-23')
        self.assertGreaterEqual(self.sql('SELECT count(DISTINCT n) FROM cutlog')[0][0], 2)
        got = {}
        for msg in self.messages()['accounts@harbour.example']:
            for a in msg.iter_attachments():
                got[a.get_filename()] = a.get_content()
        self.assertEqual(sorted(got), sorted(r + '.pdf' for r in pdfs))
        for ref, pdf in pdfs.items():
            self.assertEqual(got[ref + '.pdf'], pdf, ref)
        self.assertEqual(os.listdir(self.path('spool', 'queue')), [])
        self.assertEqual(self.sql("SELECT count(*) FROM delivery WHERE state = 'sent' AND "
                                  "address = 'accounts@harbour.example'")[0][0], 15)
        self.ok('history', 'verify')

    def test_batch_that_fails_after_recording_sends(self):
        # 1,400 invoices, planned slowly (crowd): a transaction writes the
        # rows of the plan ready (of 200 documents), then records the
        # outcomes sent since the last one while its spool segment syncs.
        # A trigger makes the transaction that queues X0600 (and not yet
        # X1000) fail at COMMIT once it has recorded an outcome (a deferred
        # foreign key), so it rolls back.  Its outcomes are recorded again
        # on the way out (the trigger does not fire then: X0600 is no longer
        # queued): every delivered file has exactly one 'sent' row, and the
        # next run sends the rest, none twice.
        self.crowd('C2')
        rows = ['ref,party_ref,amount'] + ['X%04d,C2,%d' % (k, k + 1) for k in range(1400)]
        self.ok('documents', 'import', self.write('many.csv', '\n'.join(rows) + '\n'),
                '--type', 'invoice')
        self.sql("CREATE TABLE boomparent (id INTEGER PRIMARY KEY)")
        self.sql("CREATE TABLE boom (p INTEGER REFERENCES boomparent(id) "
                 "DEFERRABLE INITIALLY DEFERRED)")
        self.sql("CREATE TRIGGER boom AFTER INSERT ON history WHEN NEW.event = 'sent' "
                 "AND EXISTS (SELECT 1 FROM history WHERE event = 'queued' "
                 "            AND document_ref = 'X0600') "
                 "AND NOT EXISTS (SELECT 1 FROM history WHERE event = 'queued' "
                 "                AND document_ref = 'X1000') "
                 "BEGIN INSERT INTO boom VALUES (1); END")
        r = self.run_postier('run', '--date', '2026-11-23')
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn('FOREIGN KEY', r.err)

        def check():
            files = {n.split('.')[0] for n in os.listdir(os.path.join(self.maildir, 'new'))}
            sent = self.sql("SELECT message_id, count(*) FROM history WHERE event = 'sent' "
                            "GROUP BY message_id")
            for mid, n in sent:
                self.assertEqual(n, 1, mid)
            self.assertEqual({mid[1:].split('@')[0] for mid, _ in sent}, files)
            self.assertEqual(self.sql("SELECT count(*) FROM delivery WHERE state = 'sent'")[0][0],
                             len(files))
            return len(files)
        first = check()
        self.assertGreater(first, 0)
        self.ok('history', 'verify')
        self.sql('DROP TRIGGER boom')
        self.ok('run', '--date', '2026-11-23')
        self.assertEqual(check(), 1408)  # the 1,400 and the 8 of the book
        self.assertEqual(self.sql("SELECT count(*) FROM document WHERE processed_at IS NULL")[0][0], 0)
        self.assertEqual(os.listdir(self.path('spool', 'queue')), [])
        self.ok('history', 'verify')

    def test_delivery_queued_by_another_connection_during_the_run(self):
        # the run hands what it queues to its dispatcher without reading
        # it back, but only while no other connection has committed: a
        # delivery queued meanwhile by someone else (here by hand; its
        # message is not in the spool, so it fails with reason 'spool') is
        # still taken up by this run, not skipped until the next one.  The
        # planner is slow (crowd): the run waits for its plans outside its
        # transactions, where this connection can write.
        import subprocess
        import time
        self.crowd('C2')
        rows = ['ref,party_ref,amount'] + ['Y%05d,C2,%d' % (k, k + 1) for k in range(1000)]
        self.ok('documents', 'import', self.write('many.csv', '\n'.join(rows) + '\n'),
                '--type', 'invoice')
        doc = self.sql("SELECT id FROM document WHERE ref = 'Y00000'")[0][0]
        p = subprocess.Popen(self.postier_argv('run', '--date', '2026-11-23'),
                             env=self.postier_env(), cwd=self.tmp,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        inserted = False
        try:
            while p.poll() is None and not inserted:
                time.sleep(0.005)
                con = sqlite3.connect(self.db, timeout=10)
                try:
                    con.execute('BEGIN IMMEDIATE')
                    sent, left = con.execute(
                        "SELECT (SELECT count(*) FROM delivery WHERE state = 'sent'),"
                        " (SELECT count(*) FROM document WHERE processed_at IS NULL)").fetchone()
                    # once the dispatcher has handed over a commit's
                    # deliveries, and while the run has more to commit
                    if sent > 100 and left > 0:
                        con.execute(
                            "INSERT INTO delivery (document_id, campaign, channel, address,"
                            " message_id, state, attempts, updated_at) VALUES (?, '', 'email',"
                            " 'autre@exemple.fr', '<aaaa0000@x>', 'queued', 0,"
                            " '2026-11-23T00:00:00Z')", (doc,))
                        inserted = True
                    con.commit()
                finally:
                    con.close()
        finally:
            _, err = p.communicate(timeout=600)
        self.assertEqual(p.returncode, 1, err)  # one message failed: not in the spool
        self.assertTrue(inserted, 'the run ended before the insert: make it bigger')
        self.assertEqual(self.sql("SELECT state FROM delivery WHERE address = 'autre@exemple.fr'"),
                         [('failed',)])
        self.assertEqual(self.sql("SELECT reason FROM history WHERE address = 'autre@exemple.fr'"),
                         [('spool',)])
        self.assertEqual(self.sql("SELECT count(*) FROM delivery WHERE state = 'sent'")[0][0],
                         len(os.listdir(os.path.join(self.maildir, 'new'))))

    def test_few_file_descriptors(self):
        # each Maildir writer holds a batch of unnamed files open: under a
        # hard limit of 128 descriptors the batches are small (and cut where
        # descriptors run out); a soft one of 128 is raised; either way
        # every message is delivered, once
        import resource
        import subprocess

        def run_with(name, limits):
            rows = ['ref,party_ref,amount'] + ['%s%04d,C2,%d' % (name, k, k + 1)
                                               for k in range(600)]
            self.ok('documents', 'import', self.write(name + '.csv', '\n'.join(rows) + '\n'),
                    '--type', 'invoice')
            p = subprocess.run(self.postier_argv('run', '--date', '2026-11-23'),
                               env=self.postier_env(), cwd=self.tmp, capture_output=True,
                               preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                                                     limits),
                               timeout=e2e.TIMEOUT)
            self.assertEqual(p.returncode, 0, (limits, p.stderr))
            self.assertIn(b' 0 deferred, 0 failed', p.stdout)
        run_with('L', (128, 128))
        run_with('M', (128, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        self.assertEqual(len(os.listdir(os.path.join(self.maildir, 'new'))), 1208)
        self.assertEqual(self.sql("SELECT count(*) FROM delivery WHERE state = 'sent'")[0][0], 1208)
        self.ok('history', 'verify')

    def test_dry_run_writes_nothing(self):
        before = self.sql('SELECT count(*) FROM history')[0][0]
        r = self.ok('run', '--dry-run', '--date', '2026-11-23')
        self.assertIn('invoice F1 -> Élodie Martin <compta@lefevre.fr>', r.out)
        self.assertIn('skipped Claire Petit claire@lefevre.fr (inactive)', r.out)
        self.assertEqual(self.sql('SELECT count(*) FROM history')[0][0], before)
        self.assertEqual(glob.glob(os.path.join(self.maildir, 'new', '*')), [])
        self.assertEqual(self.sql('SELECT count(*) FROM document WHERE processed_at IS NULL')[0][0], 5)

    def test_type_filter(self):
        self.ok('run', '--type', 'order', '--date', '2026-11-23')
        self.assertEqual(sorted(self.messages()), ['antoine@lefevre.fr', 'atelier@lefevre.fr'])

    def test_template_error_fails_the_message(self):
        tdir = self.path('templates', 'invoice')
        shutil.rmtree(tdir)  # init put the shipped ones (en too) there
        os.makedirs(tdir)
        with open(os.path.join(tdir, 'fr.eml.tmpl'), 'w') as f:
            f.write('Subject: Facture {{doc.ref}}\n\nBonjour {{contact.frist_name}},\n')
        with open(self.config, 'a') as f:
            f.write('\n[store]\ntemplates = %s\n' % self.path('templates'))
        r = self.run_postier('run', '--type', 'invoice', '--date', '2026-11-23')
        self.assertEqual(r.rc, 1, r)
        failed = self.history('--status', 'failed')
        self.assertTrue(failed)
        self.assertTrue(all(h['reason'] == 'template' for h in failed))
        self.assertIn("unknown placeholder 'contact.frist_name'", failed[0]['server_reply'])
        self.assertEqual(glob.glob(os.path.join(self.maildir, 'new', '*')), [])
        c = self.run_postier('templates', 'check')
        self.assertEqual(c.rc, 2, c)
        self.assertIn("invoice/fr.eml.tmpl:3:", c.out)

    def test_history_verify_detects_tampering(self):
        self.ok('run', '--date', '2026-11-23')
        self.assertIn('intact', self.ok('history', 'verify').out)
        con = sqlite3.connect(self.db)
        con.execute('DROP TRIGGER history_no_update')
        con.execute("UPDATE history SET server_reply = 'forged' WHERE id = 3")
        con.commit()
        con.close()
        r = self.run_postier('history', 'verify')
        self.assertEqual(r.rc, 1, r)
        self.assertIn('row 3', r.out)

    def test_history_is_append_only(self):
        self.ok('run', '--date', '2026-11-23')
        con = sqlite3.connect(self.db)
        with self.assertRaises(sqlite3.DatabaseError):
            con.execute("UPDATE history SET event = 'sent'")
        with self.assertRaises(sqlite3.DatabaseError):
            con.execute('DELETE FROM history')
        con.close()

    def test_lock_prevents_two_runs(self):
        import fcntl
        os.makedirs(self.path('spool'), exist_ok=True)
        fd = os.open(self.path('spool', 'lock'), os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            r = self.run_postier('run')
            self.assertNotEqual(r.rc, 0, r)
            self.assertIn('another postier run', r.err)
        finally:
            os.close(fd)
        self.ok('run', '--date', '2026-11-23')

    def test_recovery_after_crash_between_spool_and_db(self):
        # a queue file nobody recorded (crash before the batch committed)
        os.makedirs(self.path('spool', 'queue'), exist_ok=True)
        self.write(os.path.join('spool', 'queue', 'deadbeef' * 4), 'orphan')
        self.ok('run', '--date', '2026-11-23')
        self.assertEqual(os.listdir(self.path('spool', 'queue')), [])
        self.assertEqual(len(self.history('--status', 'sent')), 8)


if __name__ == '__main__':
    unittest.main()
