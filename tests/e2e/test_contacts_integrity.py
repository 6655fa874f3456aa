"""End-to-end: the directory's integrity (issue 16, follow-up of points 1, 2).

- a contact id is never given again once deleted (schema version 11:
  AUTOINCREMENT), so a new contact never inherits another's history, and a
  database made before it is migrated keeping every row, id and link;
- `contacts edit` and `contacts end` write the change and its history row
  in one transaction: when the history cannot be written nothing changes;
- a seed-004 `--sync` of an unchanged file updates nothing;
- one-line fields (names, e-mails, cities...) refuse line breaks and
  control characters; `note`, `address` and a site's `lines` stay
  multi-line."""

import os
import re
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402

SEED_HEADER = 'Référence;Libellé membre;Dénomination;Note;Fonction;Mail;Tel;Fax;Type;Libellé type'
EVIL = 'Eve\r\nBcc: x@evil.example'


def seed_file(rows):
    """A member file as Excel saves it: ';', CRLF, Windows-1252."""
    return ('\r\n'.join([SEED_HEADER] + [';'.join(r) for r in rows]) + '\r\n').encode('cp1252')


class ContactsIntegrityTest(e2e.PostierCase):

    def setUp(self):
        super().setUp()
        self.add_party('C001', 'Dupont SARL', 'company')
        self.add_party('C002', 'Boulangerie Lefèvre')

    def events(self, cid):
        return [(h['event'], h['server_reply']) for h in self.history_rows('--contact', cid)]

    def shown_history(self, cid):
        return self.ok('contacts', 'show', cid).out.split('\nhistory:\n', 1)[1]

    # -- ids are never reused -------------------------------------------------

    def assert_fresh(self, gone, new):
        self.assertGreater(new, gone)
        self.assertNotIn('contact_removed', self.shown_history(new))
        self.assertEqual([e for e, _ in self.events(new)], ['contact_added'])
        self.ok('contacts', 'rm', new)  # nothing links it: it can go

    def test_rm_then_add_gets_a_new_id(self):
        self.add_contact('--party', 'C001', '--last-name', 'Martin')
        gone = self.add_contact('--party', 'C001', '--last-name', 'Durand')
        self.ok('contacts', 'rm', gone)
        new = self.add_contact('--party', 'C002', '--last-name', 'Petit')
        self.assert_fresh(gone, new)

    def test_sync_removal_then_add_gets_a_new_id(self):
        self.add_contact('--party', 'C001', '--last-name', 'Martin', '--email', 'm@dupont.fr')
        gone = self.add_contact('--party', 'C001', '--last-name', 'Durand')
        f = self.write('c.csv', 'party_ref,last_name,email\nC001,Martin,m@dupont.fr\n')
        self.assertIn('1 removed', self.ok('contacts', 'import', f, '--sync').out)
        new = self.add_contact('--party', 'C002', '--last-name', 'Petit')
        self.assert_fresh(gone, new)

    def test_removed_is_not_a_link(self):
        cid = self.add_contact('--party', 'C001', '--last-name', 'Martin')
        self.ok('contacts', 'rm', cid)
        # a row left by an earlier program under this id does not pin a contact
        new = self.add_contact('--party', 'C001', '--last-name', 'Durand')
        self.sql("INSERT INTO history(at, event, contact_id, hash) "
                 "VALUES ('2020-01-01T00:00:00Z', 'contact_removed', ?, 'x')", (new,))
        self.ok('contacts', 'rm', new)

    def downgrade_to_v10(self):
        """Makes the database what version 10 left: contact ids without
        AUTOINCREMENT (SQLite gives the highest deleted id again)."""
        con = sqlite3.connect(self.db)
        try:
            sql = con.execute("SELECT sql FROM sqlite_master WHERE name = 'contact'").fetchone()[0]
            self.assertIn('AUTOINCREMENT', sql)
            old = re.sub(r'^CREATE TABLE "?contact"?', 'CREATE TABLE contact_old',
                         sql.replace(' AUTOINCREMENT', ''))
            indexes = [r[0] for r in con.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contact'"
                " AND sql IS NOT NULL")]
            con.executescript('PRAGMA foreign_keys = OFF; BEGIN;' + old + ';'
                              'INSERT INTO contact_old SELECT * FROM contact;'
                              'DROP TABLE contact;'
                              'ALTER TABLE contact_old RENAME TO contact;' +
                              ';'.join(indexes) + ';'
                              "DELETE FROM sqlite_sequence WHERE name = 'contact';"
                              'DELETE FROM schema_version WHERE version >= 11;'
                              'COMMIT;')
        finally:
            con.close()
        return indexes

    def test_migration_keeps_rows_ids_and_links(self):
        a = self.add_contact('--party', 'C001', '--last-name', 'Martin', '--email',
                             'm@dupont.fr', '--flags', 'invoice')
        b = self.add_contact('--party', 'C001', '--last-name', 'Durand', '--email', 'd@dupont.fr')
        gone = self.add_contact('--party', 'C002', '--last-name', 'Petit')
        self.ok('documents', 'import', self.write('d.csv', 'ref,party_ref,contact,amount\n'
                                                  'F1,C001,%d,10\n' % b), '--type', 'invoice')
        self.ok('contacts', 'rm', gone)
        indexes = self.downgrade_to_v10()
        before = self.sql('SELECT * FROM contact ORDER BY id')
        self.ok('contacts', 'list')  # opening migrates
        self.assertEqual(self.sql('SELECT max(version) FROM schema_version'), [(12,)])
        self.assertIn('AUTOINCREMENT', self.sql(
            "SELECT sql FROM sqlite_master WHERE name = 'contact'")[0][0])
        self.assertEqual(self.sql('SELECT * FROM contact ORDER BY id'), before)
        self.assertEqual(sorted(r[0] for r in self.sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contact'"
            " AND sql IS NOT NULL")), sorted(indexes))
        self.assertEqual(self.sql('PRAGMA foreign_key_check'), [])
        self.assertEqual(self.sql('SELECT contact_id FROM document'), [(b,)])
        # the id removed before the migration is not given again either
        new = self.add_contact('--party', 'C002', '--last-name', 'Faure')
        self.assertGreater(new, gone)
        self.assertEqual([e for e, _ in self.events(new)], ['contact_added'])
        # the links still hold, and still protect
        self.fails('contacts', 'rm', b, contains='linked')
        self.assertEqual([c['id'] for c in self.contacts()], [a, b, new])
        self.write_template('invoice', 'fr.eml.tmpl', 'Subject: Facture\n\nBonjour,\n')
        self.ok('run')
        self.assertEqual([h['contact_id'] for h in self.history_rows('--status', 'sent')], [b])
        self.verify_history()

    # -- edit and end: the change and its history row together -----------------

    def break_history(self, event):
        self.sql("CREATE TRIGGER broken BEFORE INSERT ON history WHEN NEW.event = '%s'"
                 " BEGIN SELECT RAISE(ABORT, 'history unavailable'); END" % event)

    def test_edit_and_end_are_not_saved_without_their_history(self):
        cid = self.add_contact('--party', 'C001', '--last-name', 'Martin', '--email',
                               'm@dupont.fr', '--consents', 'commercial|esign')
        before = self.contact(cid)
        self.break_history('contact_edited')
        r = self.run_postier('contacts', 'edit', cid, '--consents', 'esign')
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn('history unavailable', r.err)
        self.assertNotIn('changed contact', r.out)
        self.assertEqual(self.contact(cid), before)
        self.sql('DROP TRIGGER broken')
        self.break_history('contact_ended')
        r = self.run_postier('contacts', 'end', cid, '--date', '2030-06-30')
        self.assertNotEqual(r.rc, 0, r)
        self.assertNotIn('ends on', r.out)
        self.assertEqual(self.contact(cid), before)
        self.sql('DROP TRIGGER broken')
        # once the history works again, both go through with their rows
        self.ok('contacts', 'edit', cid, '--consents', 'esign')
        self.ok('contacts', 'end', cid, '--date', '2030-06-30')
        self.assertEqual(self.events(cid)[1:], [
            ('contact_edited', 'consents: commercial|esign → esign'),
            ('contact_ended', 'valid_until: (empty) → 2030-06-30')])
        self.verify_history()

    # -- an unchanged --sync updates nothing -----------------------------------

    def test_seed004_sync_of_unchanged_file_updates_nothing(self):
        f = self.write('membres.csv', seed_file([
            ['C001', 'Dupont SARL', 'Hélène Lefèvre', '', 'Comptable', 'h.lefevre@dupont-sarl.fr',
             '01 42 68 53 00', '', '1', 'Notifications administratives'],
            ['C001', 'Dupont SARL', 'Gérard Müller', '', '', '', '06 12 34 56 78', '', '2',
             'Notifications des commandes'],
        ]))
        r = self.ok('contacts', 'import', f, '--sync')
        self.assertIn('2 rows, 2 added, 0 updated, 0 removed', r.out)
        hist = len(self.history_rows())
        r = self.ok('contacts', 'import', f, '--sync')
        self.assertIn('2 rows, 0 added, 0 updated, 2 unchanged, 0 removed, 0 ended', r.out)
        self.assertEqual([h['event'] for h in self.history_rows()[hist:]], ['imported'])
        # one real change among unchanged rows counts once
        f2 = self.write('membres-2.csv', self.read_bytes(f).replace(b'Comptable',
                                                                      'Gérante'.encode('cp1252')))
        r = self.ok('contacts', 'import', f2, '--sync')
        self.assertIn('2 rows, 0 added, 1 updated, 1 unchanged, 0 removed', r.out)

    # -- one-line fields ------------------------------------------------------

    def test_line_breaks_refused_in_one_line_fields(self):
        snap = self.db_snapshot()
        self.fails('contacts', 'add', '--party', 'C001', '--last-name', 'Martin',
                   '--first-name', EVIL, contains=("first_name", 'line break'))
        for field, value in (('--city', 'Paris\nBcc: x@evil.example'),
                             ('--function', 'Gérant\rAssocié'), ('--company', 'A\x1b[2JB'),
                             ('--civility', 'M.\x01'), ('--website', 'a\x07b')):
            self.fails('contacts', 'add', '--party', 'C001', '--last-name', 'Martin',
                       field, value, contains=(field[2:].replace('-', '_'),))
        self.fails('parties', 'add', '--ref', 'C003', '--name', 'Acme\nBcc: x@evil.example',
                   contains=('name', 'line break'))
        self.fails('addresses', 'add', '--party', 'C001', '--label', 'Siège', '--city',
                   'Lyon\r\nX: y', contains=('city', 'line break'))
        self.assertEqual(self.db_snapshot(), snap)
        f = self.write('c.csv', 'party_ref,last_name,first_name,note\n'
                       'C001,Martin,Luc,ok\n'
                       'C001,Durand,"%s",ok\n' % EVIL)
        self.fails('contacts', 'import', f, contains=('c.csv:3', 'first_name', 'line break'))
        self.assertEqual(self.db_snapshot(), snap)
        # edit too, and the contact is left as it was
        cid = self.add_contact('--party', 'C001', '--last-name', 'Martin', '--first-name', 'Luc')
        before = self.contact(cid)
        self.fails('contacts', 'edit', cid, '--first-name', EVIL,
                   contains=('first_name', 'line break'))
        self.assertEqual(self.contact(cid), before)

    def test_inner_runs_of_spaces_are_one_space(self):
        """`Le  Goff` typed or imported with two spaces would greet
        "Bonjour M. Paul Le  Goff,": one-line fields keep one space."""
        self.add_party('C1', 'Acme')
        cid = self.add_contact('--party', 'C1', '--civility', 'M.', '--first-name', ' Paul',
                               '--last-name', 'Le  Goff ', '--company', 'A\t B',
                               '--email', 'p@x.fr', '--note', 'deux  espaces')
        c = self.contact(cid)
        self.assertEqual((c['first_name'], c['last_name'], c['company']), ('Paul', 'Le Goff', 'A B'))
        self.assertEqual(c['note'], 'deux  espaces')  # a note is free text
        self.ok('contacts', 'import', self.write(
            'c.csv', 'party_ref,last_name,first_name,email\nC1,Du  Bois,Anne  Marie,a@x.fr\n'))
        c = [x for x in self.all_contacts() if x['email'] == 'a@x.fr'][0]
        self.assertEqual((c['last_name'], c['first_name']), ('Du Bois', 'Anne Marie'))

    def test_multi_line_fields_keep_their_lines(self):
        cid = self.add_contact('--party', 'C001', '--last-name', 'Martin', '--first-name',
                               'Luc\tJean', '--note', 'Bureau 2\nporte B',
                               '--address', '12 rue des Lilas\nBâtiment C')
        c = self.contact(cid)
        self.assertEqual((c['first_name'], c['note'], c['address']),
                         ('Luc Jean', 'Bureau 2\nporte B', '12 rue des Lilas\nBâtiment C'))
        self.ok('addresses', 'add', '--party', 'C001', '--label', 'Siège', '--lines',
                '1 place X\nZone Y', '--city', 'Lyon')
        f = self.write('c.csv', 'party_ref,last_name,note\nC002,Durand,"Ligne 1\r\nLigne 2"\n')
        self.ok('contacts', 'import', f)
        # other control characters have no place even there
        self.fails('contacts', 'add', '--party', 'C001', '--last-name', 'Durand', '--note',
                   'a\x1b[2Jb', contains=('note', 'control character'))


if __name__ == '__main__':
    e2e.main()
