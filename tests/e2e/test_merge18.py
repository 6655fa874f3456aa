"""End-to-end: duplicates and merge never break a link (issue 18, point 9).

- `contacts merge` refuses contacts of different parties (the insured on a
  claim and the same person on the client's file are two roles): exit 2,
  nothing changed, the claim keeps its insured as recipient;
- `contacts dupes` lists such cross-party matches in a section of their own;
- a merge writes one `contact_merged` row;
- the kept contact keeps every flag, consent, site and document link of both;
- on a terminal a merge asks first (n: nothing merged; y: merged); --yes
  skips the question; without a terminal there is no question."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402


class Merge18Test(e2e.PostierCase):

    def setUp(self):
        super().setUp()
        self.add_party('C001', 'Dupont SARL', 'client')
        self.add_party('S001', 'Sinistre 2026-001', 'claim', '--client-ref', 'C001')

    def merged_rows(self):
        return [h for h in self.history_rows() if h['event'] == 'contact_merged']

    def test_cross_party_merge_refused_and_claim_keeps_its_insured(self):
        client = self.add_contact('--party', 'C001', '--last-name', 'Martin', '--first-name',
                                  'Paul', '--email', 'p.martin@exemple.fr', '--flags', 'invoice')
        insured = self.add_contact('--party', 'S001', '--last-name', 'Martin', '--first-name',
                                   'Paul', '--email', 'p.martin@exemple.fr', '--flags',
                                   'claim_settlement')
        snap = self.db_snapshot()
        self.fails('contacts', 'merge', client, insured, '--yes',
                   contains=('different parties', 'C001', 'S001', str(insured)))
        self.assertEqual(self.db_snapshot(), snap)
        self.assertEqual([c['id'] for c in self.contacts('--party', 'S001')], [insured])
        self.assertEqual(self.merged_rows(), [])
        # the cross-party match is listed apart, not as a duplicate to merge
        out = self.ok('contacts', 'dupes').out
        self.assertIn('same person on several files', out)
        head, cross = out.split('same person on several files', 1)
        self.assertNotIn('p.martin@exemple.fr', head)
        self.assertIn('C001', cross)
        self.assertIn('S001', cross)
        rows = self.json('contacts', 'dupes')
        self.assertEqual({r['reason'] for r in rows if r['contact_id'] in (client, insured)},
                         {'cross_party_email', 'cross_party_name'})

    def test_merge_writes_one_row_and_keeps_every_link(self):
        self.ok('addresses', 'add', '--party', 'C001', '--label', 'Siège', '--city', 'Lyon')
        keep = self.add_contact('--party', 'C001', '--last-name', 'Lefèvre', '--first-name',
                                'Élodie', '--email', 'e.lefevre@dupont-sarl.fr', '--flags',
                                'invoice|order', '--consents', 'commercial')
        dup = self.add_contact('--party', 'C001', '--last-name', 'Lefevre', '--first-name',
                               'Elodie', '--flags', 'due_notice|receiver', '--consents',
                               'esign|sms_marketing', '--site', 'Siège')
        self.ok('documents', 'import',
                self.write('d.csv', 'ref,party_ref,contact,amount\nF1,C001,%d,10\n' % dup),
                '--type', 'invoice')
        before = len(self.history_rows())
        self.ok('contacts', 'merge', keep, dup)  # no terminal: no question
        rows = self.history_rows()
        self.assertEqual(len(rows), before + 1)
        merged = self.merged_rows()
        self.assertEqual(len(merged), 1, merged)
        self.assertEqual(merged[0]['contact_id'], keep)
        self.assertIn('contact %d (Elodie Lefevre) merged in' % dup, merged[0]['server_reply'])
        c = self.contact(keep)
        self.assertEqual(set(c['flags'].split('|')),
                         {'invoice', 'order', 'due_notice', 'receiver'})
        self.assertEqual(set(c['consents'].split('|')), {'commercial', 'esign', 'sms_marketing'})
        self.assertEqual(c['site'], 'Siège')
        self.assertEqual(c['email'], 'e.lefevre@dupont-sarl.fr')
        self.assertEqual([x['id'] for x in self.all_contacts()], [keep])
        self.assertEqual(self.sql('SELECT contact_id FROM document WHERE ref = ?', ('F1',)),
                         [(keep,)])

    def merge_on_tty(self, args, answer):
        rc, text, answered = self.on_tty(self.postier_argv(*args), answer)
        if answer:
            self.assertTrue(answered, 'no [y/N] question on a terminal:\n%r' % text)
        else:
            self.assertNotIn('[y/N]', text)
        return rc, text

    def test_terminal_confirmation(self):
        keep = self.add_contact('--party', 'C001', '--last-name', 'Durand', '--email',
                                'durand@exemple.fr')
        dup = self.add_contact('--party', 'C001', '--last-name', 'Durand', '--phones',
                               '0612345678')
        snap = self.db_snapshot()
        rc, text = self.merge_on_tty(['contacts', 'merge', keep, dup], b'n\n')
        self.assertEqual(rc, 1, text)
        self.assertRegex(text, r'Merge contact %d \(Durand\) into contact %d \(Durand\)' %
                         (dup, keep))
        self.assertIn('nothing merged', text)
        self.assertEqual(self.db_snapshot(), snap)
        rc, text = self.merge_on_tty(['contacts', 'merge', keep, dup], b'y\n')
        self.assertEqual(rc, 0, text)
        self.assertEqual([c['id'] for c in self.contacts()], [keep])
        self.assertEqual(len(self.merged_rows()), 1)
        third = self.add_contact('--party', 'C001', '--last-name', 'Durand')
        rc, text = self.merge_on_tty(['contacts', 'merge', keep, third, '--yes'], None)
        self.assertEqual(rc, 0, text)
        self.assertEqual([c['id'] for c in self.contacts()], [keep])
        self.assertEqual(len(self.merged_rows()), 2)


if __name__ == '__main__':
    e2e.main()
