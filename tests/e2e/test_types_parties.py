"""End-to-end: contact types, parties and addresses (sites) — SPEC §1, §6,
§8: add, list (json/csv/table), edit, rm, show, import."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402


def party(id, ref, kind, name, **kw):
    p = {'id': id, 'ref': ref, 'kind': kind, 'name': name, 'civility': None,
         'first_name': None, 'last_name': None, 'email': None, 'phones': None,
         'locale': 'fr', 'client_ref': None}
    for k, v in kw.items():
        assert k in p, k
        p[k] = v
    return p


def address(id, party_ref, label, **kw):
    a = {'id': id, 'party_ref': party_ref, 'label': label}
    a.update({k: None for k in e2e.ADDRESS_COLUMNS[2:]})
    for k, v in kw.items():
        assert k in a, k
        a[k] = v
    return a


class TypesPartiesTest(e2e.PostierCase):

    # -- contact types ------------------------------------------------------

    def test_types_add_and_list(self):
        r = self.ok('types', 'add', '--label', 'Expert', '--code', 'exp')
        self.assertEqual(r.err, '')
        self.ok('types', 'add', '--label', 'Garage', '--code', 'gar')
        self.assertEqual(self.json('types', 'list'), [
            {'id': 1, 'code': 'exp', 'label': 'Expert', 'contacts': 0},
            {'id': 2, 'code': 'gar', 'label': 'Garage', 'contacts': 0},
        ])
        rows = e2e.parse_csv(self.ok('types', 'list', '--format', 'csv').out)
        self.assertEqual(rows, [['id', 'code', 'label', 'contacts'],
                                ['1', 'exp', 'Expert', '0'], ['2', 'gar', 'Garage', '0']])
        table = self.ok('types', 'list').out
        self.assertIn('Expert', table)
        self.assertIn('gar', table)

    def test_types_json_exact_output(self):
        self.ok('types', 'add', '--label', 'Expert', '--code', 'exp')
        r = self.ok('types', 'list', '--format', 'json')
        self.assertEqual(json.loads(r.out),
                         [{"id": 1, "code": "exp", "label": "Expert", "contacts": 0}])

    def test_types_bad_codes_refused(self):
        for code in ('9x', 'Exp', 'ex-p', 'ex p', '', 'é', '_x'):
            with self.subTest(code=code):
                self.fails('types', 'add', '--label', 'Expert', '--code', code)
        self.fails('types', 'add', '--code', 'exp')            # label required
        self.fails('types', 'add', '--label', '', '--code', 'exp')
        self.assertEqual(self.json('types', 'list'), [])
        self.ok('types', 'add', '--label', 'Assureur tiers', '--code', 'a9_x')
        self.assertEqual([t['code'] for t in self.json('types', 'list')], ['a9_x'])

    def test_types_duplicate_code_refused(self):
        self.ok('types', 'add', '--label', 'Expert', '--code', 'exp')
        self.fails('types', 'add', '--label', 'Expert bis', '--code', 'exp', contains='exp')
        self.assertEqual(self.json('types', 'list'),
                         [{'id': 1, 'code': 'exp', 'label': 'Expert', 'contacts': 0}])

    def test_types_edit(self):
        self.ok('types', 'add', '--label', 'Expert', '--code', 'exp')
        self.ok('types', 'add', '--label', 'Garage', '--code', 'gar')
        self.ok('types', 'edit', 'exp', '--label', 'Expert auto')
        self.assertEqual(self.json('types', 'list')[0],
                         {'id': 1, 'code': 'exp', 'label': 'Expert auto', 'contacts': 0})
        self.ok('types', 'edit', 'exp', '--code', 'expert')
        self.assertEqual(self.json('types', 'list')[0],
                         {'id': 1, 'code': 'expert', 'label': 'Expert auto', 'contacts': 0})
        self.fails('types', 'edit', 'expert', '--code', 'gar')      # duplicate
        self.fails('types', 'edit', 'expert', '--code', 'Bad')
        self.fails('types', 'edit', 'nope', '--label', 'X')
        self.assertEqual([(t['code'], t['label']) for t in self.json('types', 'list')],
                         [('expert', 'Expert auto'), ('gar', 'Garage')])

    def test_types_rm_refused_while_used(self):
        self.ok('types', 'add', '--label', 'Expert', '--code', 'exp')
        self.ok('types', 'add', '--label', 'Garage', '--code', 'gar')
        self.add_party('C001', 'Dupont SARL')
        cid = self.add_contact('--party', 'C001', '--type', 'exp', '--last-name', 'Moreau')
        self.add_contact('--party', 'C001', '--type', 'exp', '--last-name', 'Petit')
        self.assertEqual([t['contacts'] for t in self.json('types', 'list')], [2, 0])
        self.fails('types', 'rm', 'exp', contains='exp')
        self.assertEqual([t['code'] for t in self.json('types', 'list')], ['exp', 'gar'])
        self.assertEqual(self.contact(cid)['type'], 'exp')
        self.ok('types', 'rm', 'gar')
        self.assertEqual([t['code'] for t in self.json('types', 'list')], ['exp'])
        self.fails('types', 'rm', 'gar')                            # no longer exists
        # once no contact has it, exp can go
        for c in self.contacts():
            self.ok('contacts', 'edit', c['id'], '--type', '')
        self.assertEqual([t['contacts'] for t in self.json('types', 'list')], [0])
        self.ok('types', 'rm', 'exp')
        self.assertEqual(self.json('types', 'list'), [])

    # -- parties ------------------------------------------------------------

    def test_parties_add_list_show(self):
        r = self.ok('parties', 'add', '--ref', 'C001', '--kind', 'client',
                    '--name', 'Dupont SARL', '--civility', 'M.', '--first-name', 'Jean',
                    '--last-name', 'Dupont', '--email', 'compta@dupont-sarl.fr',
                    '--phones', '01 42 68 53 00;06 12 34 56 78')
        self.assertEqual(r.err, '')
        self.ok('parties', 'add', '--ref', 'E001', '--kind', 'company', '--name', 'Acme Ltd',
                '--locale', 'en')
        self.ok('parties', 'add', '--ref', 'S2024-001', '--kind', 'claim',
                '--name', 'Sinistre dégât des eaux', '--client-ref', 'C001')
        expected = [
            party(1, 'C001', 'client', 'Dupont SARL', civility='M.', first_name='Jean',
                  last_name='Dupont', email='compta@dupont-sarl.fr',
                  phones='+33142685300;+33612345678'),
            party(2, 'E001', 'company', 'Acme Ltd', locale='en'),
            party(3, 'S2024-001', 'claim', 'Sinistre dégât des eaux', client_ref='C001'),
        ]
        self.assertEqual(self.json('parties', 'list'), expected)
        self.assertEqual(self.json('parties', 'show', 'S2024-001'), [expected[2]])
        shown = self.ok('parties', 'show', 'C001').out
        self.assertIn('Dupont SARL', shown)
        self.assertIn('compta@dupont-sarl.fr', shown)
        self.fails('parties', 'show', 'C999', contains='C999')
        rows = e2e.parse_csv(self.ok('parties', 'list', '--format', 'csv').out)
        self.assertEqual(rows[0], ['id'] + e2e.PARTY_COLUMNS)
        self.assertEqual([r[1] for r in rows[1:]], ['C001', 'E001', 'S2024-001'])

    def test_parties_same_ref_updates(self):
        self.add_party('C001', 'Dupont SARL')
        self.ok('parties', 'add', '--ref', 'C001', '--kind', 'client',
                '--name', 'Dupont & Fils SARL', '--email', 'contact@dupont.fr')
        self.assertEqual(self.json('parties', 'list'), [
            party(1, 'C001', 'client', 'Dupont & Fils SARL', email='contact@dupont.fr')])

    def test_parties_list_kind_filter(self):
        self.add_party('C001', 'Dupont SARL')
        self.add_party('F001', 'Transports Rapides', 'supplier')
        self.add_party('C002', 'Boulangerie Lefèvre')
        self.assertEqual([p['ref'] for p in self.json('parties', 'list', '--kind', 'client')],
                         ['C001', 'C002'])
        self.assertEqual([p['ref'] for p in self.json('parties', 'list', '--kind', 'supplier')],
                         ['F001'])
        self.assertEqual(self.json('parties', 'list', '--kind', 'introducer'), [])

    def test_parties_invalid(self):
        self.fails('parties', 'add', '--ref', 'X1', '--kind', 'customer', '--name', 'X',
                   contains='kind')
        self.fails('parties', 'add', '--ref', 'S1', '--kind', 'claim', '--name', 'Sinistre',
                   contains='client_ref')
        self.fails('parties', 'add', '--ref', 'X1', '--kind', 'client', '--name', 'X',
                   '--email', 'pas-un-mail', contains='email')
        self.fails('parties', 'add', '--ref', 'X1', '--kind', 'client', '--name', 'X',
                   '--phones', 'appelez-moi', contains='phones')
        self.fails('parties', 'add', '--ref', 'X1', '--kind', 'client', '--name', 'X',
                   '--locale', 'de', contains='locale')
        self.fails('parties', 'add', '--kind', 'client', '--name', 'X')
        self.assertEqual(self.json('parties', 'list'), [])

    def test_parties_import(self):
        f = e2e.data_path('contacts', 'parties.csv')
        r = self.ok('parties', 'import', f)
        self.assertIn('6', r.out)
        got = self.json('parties', 'list')
        self.assertEqual([p['ref'] for p in got],
                         ['A001', 'C001', 'C002', 'E001', 'F001', 'S2024-001'])
        by = {p['ref']: p for p in got}
        self.assertEqual(by['C002'], party(by['C002']['id'], 'C002', 'client',
                                           'Boulangerie Lefèvre', civility='Mme',
                                           first_name='Hélène', last_name='Lefèvre',
                                           email='helene@boulangerie-lefevre.fr',
                                           phones='+33478123456'))
        self.assertEqual(by['A001']['name'], 'Cabinet Martin & Associés, conseil')
        self.assertEqual(by['F001']['name'], "Transports Rapides de l'Ouest")
        self.assertEqual(by['E001']['locale'], 'en')
        self.assertEqual(by['E001']['phones'], '+442079460958')
        self.assertEqual(by['S2024-001']['client_ref'], 'C001')
        # importing again updates, adds nothing
        self.ok('parties', 'import', f)
        self.assertEqual(len(self.json('parties', 'list')), 6)

    def test_parties_import_any_column_order_and_update(self):
        self.add_party('C001', 'Ancien nom')
        f = self.write('p.csv', 'name;email;kind;ref\r\n'
                       'Dupont SARL;compta@dupont-sarl.fr;client;C001\r\n'
                       '"Garage ""Le Rapide""";;supplier;F002\r\n')
        self.ok('parties', 'import', f)
        self.assertEqual(self.json('parties', 'list'), [
            party(1, 'C001', 'client', 'Dupont SARL', email='compta@dupont-sarl.fr'),
            party(2, 'F002', 'supplier', 'Garage "Le Rapide"'),
        ])

    def test_parties_import_unknown_column_and_bad_rows(self):
        f = self.write('p.csv', 'ref,kind,name,siret\nC001,client,Dupont,123\n')
        self.fails('parties', 'import', f, contains='siret')
        f = self.write('p.csv', 'ref,kind,name,email\n'
                       'C001,client,Dupont SARL,compta@dupont-sarl.fr\n'
                       'C002,cliente,Boulangerie,\n'
                       'C003,client,Martin,pas@mail\n')
        r = self.fails('parties', 'import', f)
        self.assertIn(f + ':3', r.err)
        self.assertIn(f + ':4', r.err)
        self.assertEqual(self.json('parties', 'list'), [])
        f = self.write('p.csv', 'kind,name\nclient,Dupont SARL\n')   # no ref column
        self.fails('parties', 'import', f, contains='ref')
        self.assertEqual(self.json('parties', 'list'), [])

    def test_parties_import_dry_run(self):
        before = self.db_snapshot()
        r = self.ok('parties', 'import', e2e.data_path('contacts', 'parties.csv'), '--dry-run')
        self.assertTrue(r.out.strip())
        self.assertEqual(self.db_snapshot(), before)
        self.assertEqual(self.json('parties', 'list'), [])

    # -- addresses ----------------------------------------------------------

    def test_addresses_add_list_update(self):
        self.add_party('C001', 'Dupont SARL')
        self.add_party('C002', 'Boulangerie Lefèvre')
        self.ok('addresses', 'add', '--party', 'C001', '--label', 'Siège',
                '--lines', '12 rue de la Paix', '--postcode', '75002', '--city', 'Paris',
                '--country', 'France', '--contact-name', 'Accueil Siège',
                '--contact-email', 'accueil@dupont-sarl.fr',
                '--contact-phone', '01 42 68 53 01')
        self.ok('addresses', 'add', '--party', 'C002', '--label', 'Boutique',
                '--city', 'Lyon')
        siege = address(1, 'C001', 'Siège', lines='12 rue de la Paix', postcode='75002',
                        city='Paris', country='France', contact_name='Accueil Siège',
                        contact_email='accueil@dupont-sarl.fr', contact_phone='+33142685301')
        boutique = address(2, 'C002', 'Boutique', city='Lyon')
        self.assertEqual(self.json('addresses', 'list'), [siege, boutique])
        self.assertEqual(self.json('addresses', 'list', '--party', 'C002'), [boutique])
        self.assertEqual(self.json('addresses', 'list', '--party', 'C003'), [])

    def test_addresses_same_label_updates(self):
        self.add_party('C002', 'Boulangerie Lefèvre')
        self.ok('addresses', 'add', '--party', 'C002', '--label', 'Boutique',
                '--city', 'Lyon')
        self.ok('addresses', 'add', '--party', 'C002', '--label', 'Boutique',
                '--lines', '5 place Bellecour', '--postcode', '69002', '--city', 'Lyon')
        got = self.json('addresses', 'list', '--party', 'C002')
        self.assertEqual(got, [address(1, 'C002', 'Boutique', lines='5 place Bellecour',
                                       postcode='69002', city='Lyon')])

    def test_addresses_invalid(self):
        self.add_party('C001', 'Dupont SARL')
        self.ok('addresses', 'add', '--party', 'C001', '--label', 'Siège')
        self.fails('addresses', 'add', '--party', 'C999', '--label', 'X', contains='C999')
        self.fails('addresses', 'add', '--party', 'C001', '--label', 'X',
                   '--contact-email', 'accueil@', contains='contact_email')
        self.fails('addresses', 'add', '--party', 'C001', '--city', 'Paris')   # no label
        self.assertEqual([a['label'] for a in self.json('addresses', 'list')], ['Siège'])

    def test_addresses_import(self):
        self.ok('parties', 'import', e2e.data_path('contacts', 'parties.csv'))
        self.ok('addresses', 'import', e2e.data_path('contacts', 'addresses.csv'))
        got = {a['label']: a for a in self.json('addresses', 'list', '--party', 'C001')}
        self.assertEqual(sorted(got), ['Entrepôt Lyon', 'Siège'])
        lyon = got['Entrepôt Lyon']
        self.assertEqual(lyon, address(lyon['id'], 'C001', 'Entrepôt Lyon',
                                       lines='ZI des Gaulnes\n3 allée des Lilas',
                                       postcode='69330', city='Meyzieu', country='France',
                                       contact_name='Marc Girard',
                                       contact_email='m.girard@dupont-sarl.fr',
                                       contact_phone='+33671223344'))
        self.assertEqual(len(self.json('addresses', 'list')), 3)
        f = self.write('a.csv', 'party_ref,label,etage\nC001,Siège,2\n')
        self.fails('addresses', 'import', f, contains='etage')
        f = self.write('a.csv', 'party_ref,label,city\nC001,Annexe,Nantes\nC404,Dépôt,Rennes\n')
        self.fails('addresses', 'import', f, contains=f + ':3')
        self.assertEqual(len(self.json('addresses', 'list')), 3)


if __name__ == '__main__':
    e2e.main()
