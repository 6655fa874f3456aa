#!/usr/bin/python3
"""End-to-end: correcting a document whose messages failed (issue 16).  A
document re-imported while none of its messages was sent or is on its way
is updated in place (same id, its failed deliveries and history kept, a
`document_corrected` history row saying what changed) and `retry` sends
the corrected content, once; a document sent or being sent is refused.  An
empty cell is an empty field, not a missing one.  Real peer: the Maildir."""
import email
import email.policy
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402

DATE = '2026-11-23'
HEAD = 'ref,party_ref,amount,settlement_date\n'
EMPTY = HEAD + 'S2026-0002,S004,,2026-12-02\n'
FIXED = HEAD + 'S2026-0002,S004,800.00,2026-12-02\n'


class DocFix(e2e.PostierCase):
    run_date = DATE

    def setUp(self):
        super().setUp()
        self.append_config('\n[run]\nfallback = none\n')
        self.maildir = self.path('spool', 'sent')
        self.add_party('S004', 'Garage Martin')

    def contacts_(self, *addresses, email_=True):
        rows = ['party_ref,last_name,first_name,email,flags']
        rows += ['S004,Martin%d,Élodie,%s,claim_settlement' % (i, a if email_ else '')
                 for i, a in enumerate(addresses)]
        self.ok('contacts', 'import', self.write('c.csv', '\n'.join(rows) + '\n'))

    def import_(self, name, text, *extra):
        return self.run_postier('documents', 'import', self.write(name, text),
                                '--type', 'claim_settlement', *extra)

    def mails(self):
        out = []
        for sub in ('new', 'cur'):
            d = os.path.join(self.maildir, sub)
            for name in sorted(os.listdir(d)) if os.path.isdir(d) else ():
                msg = email.message_from_bytes(self.read_bytes(os.path.join(d, name)),
                                               policy=email.policy.default)
                out.append((msg['To'].addresses[0].addr_spec,
                            msg.get_body(('plain',)).get_content()))
        return out

    def doc(self):
        return self.sql("SELECT id, fields FROM document WHERE ref = 'S2026-0002'")

    def failed_row(self):
        rows = [h for h in self.history_rows() if h['event'] == 'failed']
        self.assertEqual(len(rows), 1, rows)
        return rows[0]

    def tables(self):
        return {t: self.sql('SELECT * FROM %s ORDER BY rowid' % t)
                for t in ('document', 'delivery', 'history')}

    def test_french_amounts_and_dates_are_read_at_import(self):
        """A French spreadsheet's amounts and dates (`1 234,56 €`,
        `31/12/2026`) are read at import into the forms |money and |date
        read; what is neither is refused at import, naming line and field,
        instead of failing every message at run time."""
        self.contacts_('compta@martin.example')
        r = self.import_('k.csv', 'ref;party_ref;amount;settlement_date;deposit_amount\n'
                         'K1;S004;1234,56;31/12/2026;\n'
                         'K2;S004;1\u202f234,56\u00a0€;2026-12-31;1.234,56\n'
                         'K3;S004;1,234.56;2026-12-31;12 EUR\n')
        self.assertEqual(r.rc, 0, r)
        fields = [json.loads(f) for (f,) in self.sql('SELECT fields FROM document ORDER BY id')]
        self.assertEqual([f['amount'] for f in fields], ['1234.56'] * 3)
        self.assertEqual([f['settlement_date'] for f in fields], ['2026-12-31'] * 3)
        self.assertEqual([f['deposit_amount'] for f in fields], ['', '1234.56', '12'])
        r = self.run_job(rc=0)
        self.assertEqual(self.run_summary(r)['sent'], 3, r)
        for _, text in self.mails():
            self.assertIn('1\u202f234,56\u00a0€', text)
        before = self.tables()
        r = self.import_('bad.csv', 'ref;party_ref;amount;settlement_date\n'
                         'K8;S004;12;31/02/2026\nK9;S004;12,3,4x;2026-12-31\n')
        self.assertEqual(r.rc, 2, r)
        self.assertIn("bad.csv:2: field 'settlement_date': '31/02/2026' is not a date", r.err)
        self.assertIn("bad.csv:3: field 'amount': '12,3,4x' is not an amount", r.err)
        self.assertEqual(self.tables(), before)

    def test_empty_cell_is_an_empty_field(self):
        # two recipients: the second message reads the field from the memo
        self.contacts_('compta@martin.example', 'dir@martin.example')
        self.assertEqual(self.import_('cs2.csv', EMPTY).rc, 0)
        r = self.run_job(rc=1)
        self.assertEqual(self.run_summary(r)['failed'], 2, r)
        rows = [h for h in self.history_rows() if h['event'] == 'failed']
        self.assertEqual(len(rows), 2, rows)
        for h in rows:
            self.assertEqual(h['reason'], 'template')
            self.assertIn("document S2026-0002: field 'amount' is empty", h['server_reply'])
            self.assertNotIn('has no field', h['server_reply'])
        self.assertEqual(self.mails(), [])

    def test_a_field_the_file_lacks_is_still_missing(self):
        self.contacts_('compta@martin.example')
        r = self.import_('cs3.csv', 'ref,party_ref,settlement_date\nS2026-0002,S004,2026-12-02\n')
        self.assertEqual(r.rc, 0, r)
        self.run_job(rc=1)
        self.assertIn("document S2026-0002 has no field 'amount'",
                      self.failed_row()['server_reply'])

    def test_empty_field_false_in_if_and_defaulted(self):
        self.contacts_('compta@martin.example')
        self.write_template('claim_settlement', 'fr.eml.tmpl',
                            'Subject: Sinistre {{doc.ref}}\n\n'
                            '{{#if doc.amount}}montant {{doc.amount}}{{else}}sans montant{{/if}}'
                            ' / {{doc.amount|default:"à venir"}}\n')
        self.assertEqual(self.import_('cs2.csv', EMPTY).rc, 0)
        self.run_job(rc=0)
        mails = self.mails()
        self.assertEqual(len(mails), 1, mails)
        self.assertIn('sans montant / à venir', mails[0][1])

    def test_reimport_corrects_a_failed_document_then_retry_sends_it(self):
        a = 'compta@martin.example'
        self.contacts_(a)
        self.assertEqual(self.import_('cs2.csv', EMPTY).rc, 0)
        (doc_id, _), = self.doc()
        self.run_job(rc=1)
        failed = self.failed_row()
        # a dry run says it and writes nothing
        before = self.tables()
        r = self.import_('cs2b.csv', FIXED, '--dry-run')
        self.assertEqual(r.rc, 0, r)
        self.assertIn('1 updated', r.out)
        self.assertEqual(self.tables(), before)
        r = self.import_('cs2b.csv', FIXED)
        self.assertEqual(r.rc, 0, r)
        self.assertIn('0 claim_settlement documents imported, 1 updated', r.out)
        (same_id, fields), = self.doc()
        self.assertEqual(same_id, doc_id)
        self.assertIn('"amount":"800.00"', fields)
        corrected = [h for h in self.history_rows() if h['event'] == 'document_corrected']
        self.assertEqual(len(corrected), 1, corrected)
        self.assertEqual((corrected[0]['document_ref'], corrected[0]['document_type'],
                          corrected[0]['party_ref']), ('S2026-0002', 'claim_settlement', 'S004'))
        self.assertEqual(corrected[0]['server_reply'], 'amount: (empty) → 800.00')
        # the failed row stays attached to the document
        self.assertIn(failed, self.history_rows())
        r = self.run_postier('retry')
        self.assertEqual(r.rc, 0, r)
        mails = self.mails()
        self.assertEqual([m[0] for m in mails], [a])
        self.assertIn('800,00', mails[0][1])
        # exactly once
        self.assertEqual(self.run_postier('retry').rc, 0)
        self.run_job(rc=0)
        self.assertEqual(len(self.mails()), 1)
        self.verify_history()

    def test_unprocessed_document_corrected_before_the_run(self):
        self.contacts_('compta@martin.example')
        self.assertEqual(self.import_('cs2.csv', EMPTY).rc, 0)
        r = self.import_('cs2b.csv', FIXED)
        self.assertEqual(r.rc, 0, r)
        self.assertIn('1 updated', r.out)
        self.run_job(rc=0)
        mails = self.mails()
        self.assertEqual(len(mails), 1)
        self.assertIn('800,00', mails[0][1])

    def test_same_content_again_is_unchanged(self):
        self.contacts_('compta@martin.example')
        self.assertEqual(self.import_('cs2b.csv', FIXED).rc, 0)
        before = self.tables()
        r = self.import_('cs2b.csv', FIXED)
        self.assertEqual(r.rc, 0, r)
        self.assertIn('1 unchanged', r.out)
        self.assertEqual(self.tables(), before)

    def test_sent_document_is_refused(self):
        self.contacts_('compta@martin.example', 'dir@martin.example')
        self.assertEqual(self.import_('cs2b.csv', FIXED).rc, 0)
        self.run_job(rc=0)
        before = self.tables()
        f = self.write('cs2c.csv', HEAD + 'S2026-0003,S004,10.00,2026-12-02\n'
                       'S2026-0002,S004,900.00,2026-12-02\n')
        self.fails('documents', 'import', f, '--type', 'claim_settlement',
                   contains=(f + ':3:', 'S2026-0002',
                             'already sent to 2 recipients: a document sent cannot be changed'))
        self.assertEqual(self.tables(), before)

    def test_document_on_its_way_is_refused(self):
        self.contacts_('compta@martin.example')
        self.append_config('\n[email]\ntransport = smtp\n[smtp]\nurl = smtp://127.0.0.1:%d\n'
                           'max_attempts = 3\ntimeout = 5\n' % e2e.free_port())
        self.assertEqual(self.import_('cs2b.csv', FIXED).rc, 0)
        self.run_job(rc=75)
        before = self.tables()
        f = self.write('cs2c.csv', HEAD + 'S2026-0002,S004,900.00,2026-12-02\n')
        self.fails('documents', 'import', f, '--type', 'claim_settlement',
                   contains=(f + ':2:', 'S2026-0002', 'on its way to 1 recipient'))
        self.assertEqual(self.tables(), before)

    def test_processed_document_with_nothing_sent_is_refused(self):
        self.contacts_('x', email_=False)  # no address: skipped
        self.assertEqual(self.import_('cs2b.csv', FIXED).rc, 0)
        self.run_job(rc=0)
        before = self.tables()
        f = self.write('cs2c.csv', HEAD + 'S2026-0002,S004,900.00,2026-12-02\n')
        self.fails('documents', 'import', f, '--type', 'claim_settlement',
                   contains=(f + ':2:', 'S2026-0002', 'already processed by the run of'))
        self.assertEqual(self.tables(), before)

    def test_correction_lists_every_change(self):
        self.contacts_('compta@martin.example')
        self.assertEqual(self.import_('cs2.csv', EMPTY).rc, 0)
        self.run_job(rc=1)
        r = self.import_('cs2d.csv', 'ref,party_ref,amount,note,esign\n'
                         'S2026-0002,S004,800.00,"avec franchise",1\n')
        self.assertEqual(r.rc, 0, r)
        corrected = [h for h in self.history_rows() if h['event'] == 'document_corrected']
        self.assertEqual([h['server_reply'] for h in corrected],
                         ['esign: 0 → 1; amount: (empty) → 800.00; '
                          'settlement_date: 2026-12-02 → (empty); note: (empty) → avec franchise'])

    def test_same_ref_twice_in_a_file_is_an_error(self):
        self.contacts_('compta@martin.example')
        self.assertEqual(self.import_('cs2.csv', EMPTY).rc, 0)
        before = self.tables()
        for text in (FIXED + 'S2026-0002,S004,900.00,2026-12-02\n',
                     HEAD + 'S2026-0009,S004,1.00,2026-12-02\nS2026-0009,S004,2.00,2026-12-02\n'):
            f = self.write('twice.csv', text)
            self.fails('documents', 'import', f, '--type', 'claim_settlement',
                       contains=(f + ':3:', 'more than once in the file'))
            self.assertEqual(self.tables(), before)


if __name__ == '__main__':
    unittest.main()
