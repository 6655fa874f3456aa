"""End-to-end: the directory never loses what an import does not mention
(issue 16, points 1, 2 and the `contacts list` filters of 12).

- an import with an `id` column (or `--sync`) updates only the columns in
  the file; an empty cell of a present column clears the field;
- every field an import, `edit`, `end` or `merge` changes is in the history
  as `field: old → new`, and `contacts show` lists each row once;
- a seed-004 member file re-imported with `--sync` updates the contacts it
  names (party + e-mail, else party + name) and keeps their ids and history;
  only the contacts it no longer names are ended (linked) or deleted;
- `contacts list --type CODE --flag FLAG --consent C`."""

import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402

SEED_HEADER = 'Référence;Libellé membre;Dénomination;Note;Fonction;Mail;Tel;Fax;Type;Libellé type'
ADMIN = 'invoice|payment_reminder|due_notice'


def yesterdays():
    """Yesterday's date (both sides of a midnight the command may cross)."""
    return datetime.date.today() - datetime.timedelta(days=1)


def seed_file(rows):
    """A member file as Excel saves it: ';', CRLF, Windows-1252."""
    return ('\r\n'.join([SEED_HEADER] + [';'.join(r) for r in rows]) + '\r\n').encode('cp1252')


class ContactsKeepTest(e2e.PostierCase):

    def setUp(self):
        super().setUp()
        self.add_party('C001', 'Dupont SARL', 'company')
        self.add_party('C002', 'Boulangerie Lefèvre')
        self.ok('types', 'add', '--label', 'Expert', '--code', 'exp')
        self.write_template('invoice', 'fr.eml.tmpl',
                            'Subject: Facture {{doc.ref}}\n\nBonjour {{contact.name}},\n')

    def events(self, cid, event=None):
        """(event, detail) of the history rows about contact cid."""
        return [(h['event'], h['server_reply']) for h in self.history_rows('--contact', cid)
                if event is None or h['event'] == event]

    # -- point 1: a partial import never erases ----------------------------------

    def test_partial_import_with_id_keeps_absent_columns(self):
        cid = self.add_contact('--party', 'C001', '--civility', 'Mme', '--last-name', 'Lefèvre',
                               '--first-name', 'Élodie', '--email', 'e.lefevre@dupont-sarl.fr',
                               '--phones', '06 12 34 56 78', '--flags', 'invoice|order',
                               '--consents', 'commercial|esign', '--function', 'Comptable',
                               '--valid-until', '2099-12-31')
        before = self.contact(cid)
        f = self.write('maj.csv', 'id,party_ref,last_name,email,consents\n'
                       '%d,C001,Lefèvre,elodie.lefevre@dupont-sarl.fr,esign\n' % cid)
        r = self.ok('contacts', 'import', f)
        self.assertIn('1 rows, 0 added, 1 updated', r.out)
        self.assertEqual(self.contact(cid), dict(before, email='elodie.lefevre@dupont-sarl.fr',
                                                 consents='esign'))
        self.assertIn(('contact_edited',
                       'email: e.lefevre@dupont-sarl.fr → elodie.lefevre@dupont-sarl.fr; '
                       'consents: commercial|esign → esign'), self.events(cid))
        # an empty cell of a present column clears that field, and only it
        f = self.write('vide.csv', 'id,party_ref,function,consents\n%d,C001,,\n' % cid)
        self.ok('contacts', 'import', f)
        self.assertEqual(self.contact(cid), dict(before, email='elodie.lefevre@dupont-sarl.fr',
                                                 function=None, consents=None))
        self.assertEqual(self.events(cid)[-1],
                         ('contact_edited', 'function: Comptable → (empty); '
                          'consents: esign → (empty)'))
        # a partial row must still leave a valid contact
        snap = self.db_snapshot()
        f = self.write('sans-nom.csv', 'id,party_ref,last_name\n%d,C001,\n' % cid)
        self.fails('contacts', 'import', f, contains=('sans-nom.csv:2', 'last_name'))
        self.assertEqual(self.db_snapshot(), snap)

    def test_edit_end_merge_write_each_change_and_show_lists_rows_once(self):
        keep = self.add_contact('--party', 'C001', '--last-name', 'Lefèvre', '--first-name',
                                'Élodie', '--email', 'e.lefevre@dupont-sarl.fr',
                                '--consents', 'commercial|esign')
        dup = self.add_contact('--party', 'C001', '--last-name', 'Lefevre', '--phones',
                               '0612345678', '--flags', 'invoice')
        self.ok('contacts', 'edit', keep, '--consents', 'esign', '--first-name', 'Élodie')
        self.assertEqual(self.events(keep, 'contact_edited'),
                         [('contact_edited', 'consents: commercial|esign → esign')])
        self.ok('contacts', 'merge', keep, dup)
        merged = self.events(keep, 'contact_merged')
        self.assertEqual(merged, [('contact_merged',
                                   'contact %d (Lefevre) merged in; phones: (empty) → '
                                   '+33612345678; flags: (empty) → invoice' % dup)])
        self.assertEqual(self.events(dup, 'contact_merged'), [])  # one row, the kept one's
        self.ok('contacts', 'end', keep, '--date', '2030-06-30')
        self.assertEqual(self.events(keep)[-1],
                         ('contact_ended', 'valid_until: (empty) → 2030-06-30'))
        shown = self.ok('contacts', 'show', keep).out.split('\nhistory:\n', 1)[1]
        lines = [ln for ln in shown.splitlines() if ln.startswith('  ') and
                 not ln.startswith('      ')]
        ids = [int(ln.split()[0]) for ln in lines]
        self.assertEqual(len(ids), len(set(ids)), shown)
        self.assertEqual(sum('contact_merged' in ln for ln in lines), 1, shown)
        self.assertEqual(shown.count('merged in;'), 1, shown)

    # -- point 2: seed-004 --sync keeps identities -------------------------------

    def test_seed004_sync_updates_in_place_and_keeps_history(self):
        first = self.write('membres.csv', seed_file([
            ['C001', 'Dupont SARL', 'Hélène Lefèvre', "Préfère l'après-midi",
             'Responsable comptabilité', 'h.lefevre@dupont-sarl.fr', '01 42 68 53 00', '', '1',
             'Notifications administratives'],
            ['C001', 'Dupont SARL', 'Gérard Müller', '', 'Magasinier', 'g.muller@dupont-sarl.fr',
             '"06 12 34 56 78;06 98 76 54 32"', '', '2', 'Notifications des commandes'],
            ['C001', 'Dupont SARL', 'Françoise Ménard', 'Ancienne gérante', '', '', '', '', '3',
             'Aucune notification'],
            ['C001', 'Dupont SARL', 'Paul Girard', '', 'Comptable', 'p.girard@dupont-sarl.fr', '',
             '', '1', 'Notifications administratives'],
            ['C002', 'Boulangerie Lefèvre', 'Benoît Cœur', '', 'Gérant',
             'benoit@boulangerie-lefevre.fr', '', '', '4', 'Toutes les notifications'],
        ]))
        self.ok('contacts', 'import', first)
        ids = {c['last_name']: c['id'] for c in self.contacts()}
        helene, gerard, francoise, paul, benoit = (
            ids['Hélène Lefèvre'], ids['Gérard Müller'], ids['Françoise Ménard'],
            ids['Paul Girard'], ids['Benoît Cœur'])
        # what the member file does not carry, set by the operator
        self.ok('contacts', 'edit', helene, '--civility', 'Mme', '--consents', 'esign')
        # an invoice goes to Hélène and Paul: both are linked to history now
        self.ok('documents', 'import', self.write('f.csv', 'ref,party_ref,amount\nF1,C001,120\n'),
                '--type', 'invoice')
        self.ok('run')
        sent = [h for h in self.history_rows('--status', 'sent')]
        self.assertEqual(sorted(h['contact_id'] for h in sent), sorted([helene, paul]))

        # the member file again, as the member's software exports it next month
        again = self.write('membres-2.csv', seed_file([
            ['C001', 'Dupont SARL', 'Hélène Lefèvre', "Préfère l'après-midi",
             'Responsable comptabilité', 'h.lefevre@dupont-sarl.fr', '01 42 68 53 01', '', '4',
             'Toutes les notifications'],
            ['C001', 'Dupont SARL', 'GÉRARD MULLER', '', 'Chef magasinier',
             'gerard.muller@dupont-sarl.fr', '06 12 34 56 78', '', '2',
             'Notifications des commandes'],
            ['C001', 'Dupont SARL', 'Zoé Faure', '', 'Réceptionnaire', '', '06 11 22 33 44', '',
             '6', 'Réceptionnaire'],
        ]))
        r = self.ok('contacts', 'import', again, '--sync')
        self.assertIn('3 rows, 1 added, 2 updated, 1 removed, 1 ended', r.out)
        everyone = {c['id']: c for c in self.all_contacts()}
        # same identities, updated in place; what the file does not carry is kept
        # (a Dénomination that reads as the same name keeps its spelling)
        h = everyone[helene]
        self.assertEqual((h['civility'], h['consents'], h['phones'], h['flags']),
                         ('Mme', 'esign', '+33142685301', ADMIN + '|order|after_sales'))
        g = everyone[gerard]
        self.assertEqual((g['last_name'], g['email'], g['phones'], g['function'],
                          g['valid_until']),
                         ('Gérard Müller', 'gerard.muller@dupont-sarl.fr', '+33612345678',
                          'Chef magasinier', None))
        # absent from the file: the linked one is ended, the other deleted
        self.assertIn(everyone[paul]['valid_until'],
                      {yesterdays().isoformat(),
                       (datetime.date.today() - datetime.timedelta(days=2)).isoformat()})
        self.assertNotIn(francoise, everyone)
        # another party of nobody's file is untouched
        self.assertIsNone(everyone[benoit]['valid_until'])
        zoe = [c for c in everyone.values() if c['last_name'] == 'Zoé Faure']
        self.assertEqual(len(zoe), 1)
        self.assertNotIn(zoe[0]['id'], (helene, gerard, francoise, paul))
        self.assertEqual(len(everyone), 5)
        # the history still points at the same contacts, and says what changed
        self.assertIn('sent', [e for e, _ in self.events(helene)])
        self.assertIn(('contact_edited', 'phones: +33142685300 → +33142685301; flags: '
                       + ADMIN + ' → ' + ADMIN + '|order|after_sales'), self.events(helene))
        self.assertIn('email: g.muller@dupont-sarl.fr → gerard.muller@dupont-sarl.fr',
                      self.events(gerard)[-1][1])
        self.assertEqual(self.events(paul)[-1][0], 'contact_ended')
        self.assertIn('valid_until: (empty) → ', self.events(paul)[-1][1])
        self.assertIn('contact_removed', [e for e, _ in self.events(francoise)])
        # a second identical --sync changes nothing
        snap = self.db_snapshot()['contact']
        r = self.ok('contacts', 'import', again, '--sync')
        self.assertIn('3 rows, 0 added, 0 updated, 3 unchanged, 0 removed, 0 ended', r.out)
        self.assertEqual(self.db_snapshot()['contact'], snap)
        self.verify_history()

    def test_sync_partial_canonical_file_matches_by_email(self):
        cid = self.add_contact('--party', 'C001', '--civility', 'M.', '--last-name', 'Moreau',
                               '--first-name', 'Luc', '--email', 'Luc.Moreau@dupont-sarl.fr',
                               '--flags', 'invoice', '--consents', 'commercial|esign')
        other = self.add_contact('--party', 'C001', '--last-name', 'Autre')
        f = self.write('retraits.csv', 'party_ref,email,consents\n'
                       'C001,luc.moreau@dupont-sarl.fr,esign\n')
        r = self.ok('contacts', 'import', f, '--sync')
        self.assertIn('1 rows, 0 added, 1 updated, 1 removed, 0 ended', r.out)
        c = self.contact(cid)
        self.assertEqual((c['civility'], c['first_name'], c['last_name'], c['flags'],
                          c['consents'], c['email']),
                         ('M.', 'Luc', 'Moreau', 'invoice', 'esign',
                          'luc.moreau@dupont-sarl.fr'))
        self.assertIn('consents: commercial|esign → esign', self.events(cid)[-1][1])
        self.assertNotIn(other, [x['id'] for x in self.all_contacts()])

    # -- point 12 (the directory's part): list filters ---------------------------

    def test_list_filters_type_flag_consent(self):
        a = self.add_contact('--party', 'C001', '--last-name', 'Expert', '--type', 'exp',
                             '--flags', 'claim_settlement', '--consents', 'esign')
        b = self.add_contact('--party', 'C001', '--last-name', 'Compta',
                             '--flags', 'invoice|order', '--consents', 'commercial|esign')
        c = self.add_contact('--party', 'C002', '--last-name', 'Rien')
        ids = lambda *args: [x['id'] for x in self.contacts(*args)]  # noqa: E731
        self.assertEqual(ids(), [a, b, c])
        self.assertEqual(ids('--type', 'exp'), [a])
        self.assertEqual(ids('--flag', 'invoice'), [b])
        self.assertEqual(ids('--flag', 'claim_settlement'), [a])
        self.assertEqual(ids('--consent', 'esign'), [a, b])
        self.assertEqual(ids('--consent', 'commercial', '--flag', 'order'), [b])
        self.assertEqual(ids('--consent', 'esign', '--party', 'C001', '--type', 'exp'), [a])
        self.assertEqual(ids('--consent', 'partner'), [])
        self.assertIn('1 contacts', self.ok('contacts', 'list', '--flag', 'invoice').out)
        self.fails('contacts', 'list', '--flag', 'facture', contains=('facture', 'invoice',
                                                                      'after_sales'))
        self.fails('contacts', 'list', '--consent', 'pub', contains=('pub', 'sms_marketing'))
        self.fails('contacts', 'list', '--type', 'zzz', contains=('zzz', 'exp'))


if __name__ == '__main__':
    e2e.main()
