#!/usr/bin/python3
"""Issue 18, point 1: the history proves the legal basis.

`history list --format json|csv` and `history export` carry every column of
SPEC §8 (consent, operator, message_sha256, provider_id among them), against
a real SMTP server (aiosmtpd) and the JSON SMS gateway; `--address` filters
case-insensitively; `--status` refuses an unknown event; `--party REF` takes
in the messages about that party's claims."""
import csv
import hashlib
import io
import json
import os
import sys

import openpyxl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import sms_gateway  # noqa: E402
import smtp_peer  # noqa: E402
from e2e import csv_text  # noqa: E402
from test_compliance import ComplianceCase, RUN_DATE, neutral  # noqa: E402

# SPEC §8, in this order
KEYS = ['id', 'at', 'event', 'channel', 'address', 'contact_id', 'party_ref', 'document_ref',
        'document_type', 'campaign', 'template', 'template_sha256', 'message_id', 'reason',
        'server_reply', 'consent', 'operator', 'message_sha256', 'provider_id', 'hash']


class History18(ComplianceCase):

    def setUp(self):
        super().setUp()
        self.peer = smtp_peer.Peer(self.path('peer'), mode='accept').start()
        self.addCleanup(self.peer.stop)
        self.gw = sms_gateway.Gateway(self.path('gateway'), mode='json').start()
        self.addCleanup(self.gw.stop)
        self.write_config(self.base_ini + (
            '\n[store]\ntemplates = %s\n[sender]\nemail = contact@cabinet-durand.fr\n'
            '[email]\ntransport = smtp\n[smtp]\nurl = %s\n'
            '[run]\nsms_types = invoice\n[sms]\ntransport = json\n'
            'url = %s\nsender = POSTIER\ntimeout = 10\n' % (self.tdir, self.peer.url, self.gw.url)))
        self.ok('parties', 'import', self.write('parties.csv', csv_text(
            ['ref', 'kind', 'name', 'email', 'client_ref'],
            [dict(ref='C1', kind='client', name='Boulangerie Lefèvre', email='accueil@lefevre.fr'),
             dict(ref='K1', kind='claim', name='Sinistre 2026-17', client_ref='C1'),
             dict(ref='P2', kind='client', name='Harbour Ltd', email='accounts@harbour.example')])))
        self.ok('contacts', 'import', self.write('c.csv', csv_text(
            ['party_ref', 'last_name', 'first_name', 'email', 'phones', 'flags', 'consents'],
            [dict(party_ref='C1', last_name='Lefèvre', first_name='Antoine',
                  email='Antoine@Lefevre.FR', flags='order', consents='commercial|esign'),
             dict(party_ref='K1', last_name='Expert', first_name='Jean',
                  email='jean.expert@cabinet.example', flags='claim_settlement', consents=''),
             dict(party_ref='P2', last_name='Whitaker', first_name='James',
                  phones='07 98 76 54 32', flags='invoice', consents='sms_marketing')])))
        for doc_type, ref, party in (('order', 'O1', 'C1'), ('claim_settlement', 'S1', 'K1'),
                                     ('invoice', 'F2', 'P2')):
            self.ok('documents', 'import', self.write('d-%s.csv' % ref, csv_text(
                ['ref', 'party_ref', 'amount'], [dict(ref=ref, party_ref=party, amount='12.50')])),
                '--type', doc_type)
        self.global_opts = ('--operator', 'alice.compliance')
        self.ok('run', '--date', RUN_DATE)
        self.global_opts = ()

    def test_list_and_export_carry_the_spec_columns(self):
        rows = self.history_rows()
        self.assertTrue(rows)
        for h in rows:
            self.assertEqual(list(h), KEYS, 'history list --format json keys')
        sms = [h for h in rows if h['event'] == 'sent' and h['channel'] == 'sms']
        self.assertEqual(len(sms), 1, rows)
        sent = {h['address']: h for h in rows if h['event'] == 'sent'}
        sent = {'O1': sent['Antoine@lefevre.fr'], 'S1': sent['jean.expert@cabinet.example'],
                'F2': sms[0]}
        # e-mail: the MIME bytes the server got, its queue id, the consent at send time
        by_mid = {e2e.mid(m['message_id']): m for m in self.peer.messages()}
        for ref in ('O1', 'S1'):
            h = sent[ref]
            m = by_mid[e2e.mid(h['message_id'])]
            self.assertEqual(h['provider_id'], m['queue_id'], h)
            self.assertEqual(h['message_sha256'], hashlib.sha256(m['data']).hexdigest(), h)
            self.assertEqual(h['operator'], 'alice.compliance', h)
        self.assertEqual(set(sent['O1']['consent'].split('|')), {'commercial', 'esign'})
        # SMS: the gateway's message id and the text's SHA-256
        (q,) = self.gw.accepted()
        self.assertEqual(sent['F2']['provider_id'], json.loads(q['reply'])['id'])
        self.assertEqual(sent['F2']['consent'], 'sms_marketing')
        self.assertEqual(sent['F2']['operator'], 'alice.compliance')
        text = json.loads(q['body'])['text']
        self.assertEqual(sent['F2']['message_sha256'],
                         hashlib.sha256(text.encode('utf-8')).hexdigest())
        # list CSV: same columns, same values
        r = self.ok('history', 'list', '--format', 'csv')
        table = list(csv.reader(io.StringIO(r.out.lstrip('\ufeff'))))
        self.assertEqual(table[0], KEYS)
        self.assertEqual(len(table) - 1, len(rows))
        for line, h in zip(table[1:], rows):
            self.assertEqual(line, [neutral('' if h[k] is None else str(h[k])) for k in KEYS])
        # export CSV and XLSX
        out = self.path('h.csv')
        self.ok('history', 'export', '--format', 'csv', '-o', out)
        with open(out, encoding='utf-8-sig', newline='') as f:
            table = list(csv.reader(f))
        self.assertEqual(table[0], KEYS)
        got = {line[0]: dict(zip(KEYS, line)) for line in table[1:]}
        for ref in ('O1', 'S1', 'F2'):
            h = sent[ref]
            for k in ('consent', 'operator', 'message_sha256', 'provider_id'):
                self.assertEqual(got[str(h['id'])][k], h[k] or '', (k, h))
        out = self.path('h.xlsx')
        self.ok('history', 'export', '--format', 'xlsx', '-o', out)
        ws = openpyxl.load_workbook(out, read_only=True).worksheets[0]
        values = list(ws.iter_rows(values_only=True))
        self.assertEqual([str(v) for v in values[0]], KEYS)
        xl = {str(v[0]): dict(zip(KEYS, v)) for v in values[1:]}
        self.assertEqual(xl[str(sent['O1']['id'])]['provider_id'], sent['O1']['provider_id'])
        self.assertEqual(xl[str(sent['F2']['id'])]['message_sha256'],
                         sent['F2']['message_sha256'])
        self.verify_history()

    def test_address_filter_ignores_case(self):
        rows = self.history_rows('--address', 'ANTOINE@lefevre.fr')
        self.assertEqual({h['event'] for h in rows}, {'queued', 'sent'}, rows)
        self.assertEqual({h['address'] for h in rows}, {'Antoine@lefevre.fr'})
        self.assertEqual(self.history_rows('--address', 'antoine@lefevre.f'), [])
        out = self.path('a.csv')
        self.ok('history', 'export', '--format', 'csv', '-o', out, '--address', 'antoine@LEFEVRE.fr')
        with open(out, encoding='utf-8-sig', newline='') as f:
            self.assertEqual(len(list(csv.reader(f))) - 1, len(rows))

    def test_unknown_status_is_exit_2(self):
        for cmd in (('history', 'list'), ('history', 'export', '--format', 'csv',
                                           '-o', self.path('x.csv'))):
            self.fails(*cmd, '--status', 'envoye',
                       contains=("'envoye' is not an event", 'sent', 'queued', 'skipped'))
        self.assertFalse(os.path.exists(self.path('x.csv')))
        sent = self.history_rows('--status', 'sent')
        self.assertEqual(len(sent), sum(h['event'] == 'sent' for h in self.history_rows()))
        self.assertGreaterEqual(len(sent), 3)
        self.assertEqual(self.history_rows('--status', 'bounced'), [])

    def test_party_includes_its_claims(self):
        rows = self.history_rows('--party', 'C1')
        self.assertEqual({h['document_ref'] for h in rows}, {'O1', 'S1'}, rows)
        self.assertIn(('S1', 'K1', 'sent'),
                      {(h['document_ref'], h['party_ref'], h['event']) for h in rows})
        self.assertEqual({h['document_ref'] for h in self.history_rows('--party', 'K1')},
                         {'S1'})
        self.assertEqual({h['document_ref'] for h in self.history_rows('--party', 'P2')},
                         {'F2'})


if __name__ == '__main__':
    e2e.main()
