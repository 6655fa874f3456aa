#!/usr/bin/python3
"""End-to-end: the SMS transport (SPEC §2, §4, §8) against a real HTTP
gateway (sms_gateway.py, http.server in a subprocess).  `run` texts the
documents of the `[run] sms_types` to each resolved contact's first mobile:
every request on the wire is checked exactly (Kannel's sendsms GET and the
JSON POST), real French and overseas spellings of numbers end as the right
E.164 `to`, landlines and faxes are never texted, GSM-7 / UCS-2 coding and
the segment count are recorded, and the gateway's answers (2xx, 429, 5xx,
4xx, a dropped connection, no answer in time, nobody listening) lead to
sent / deferred-then-retried / failed rows in the history."""
import email
import email.policy
import glob
import hashlib
import json
import math
import os
import shutil
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import sms_gateway  # noqa: E402
from e2e import csv_text, free_port  # noqa: E402

DATE = '2026-11-23'
PARTY = 'Lefèvre & Fils <Paris>'
KANNEL_OK = '202 0: Accepted for delivery'

# GSM 03.38: the default alphabet and the extension table (2 septets each)
GSM_BASIC = ('@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?'
             '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà')
GSM_EXT = '^{}\\[~]|€'
FILLER = ('Votre commande sera livrée demain entre 8h et 12h à l\'adresse indiquée. '
          'Merci de votre confiance et à la semaine prochaine ! ')


def measure(text):
    """(coding, segments) of an SMS text, computed independently of postier."""
    if all(c in GSM_BASIC or c in GSM_EXT for c in text):
        units = len(text) + sum(1 for c in text if c in GSM_EXT)
        return 'GSM-7', 1 if units <= 160 else math.ceil(units / 153)
    units = len(text.encode('utf-16-le')) // 2
    return 'UCS-2', 1 if units <= 70 else math.ceil(units / 67)


def filler(n):
    """n characters of realistic GSM-7 French text, not ending in a blank."""
    s = (FILLER * (n // len(FILLER) + 1))[:n]
    return s[:-1] + '.' if s.endswith(' ') else s


def segs(n):
    return '%d segment%s' % (n, '' if n == 1 else 's')


class SmsCase(e2e.PostierCase):
    run_date = DATE

    def setUp(self):
        super().setUp()
        self.base_ini = self.read_config()
        # our own templates folder: the shipped e-mail templates, and the SMS
        # templates each test writes
        self.tdir = self.path('templates')
        src = e2e.TEMPLATES
        for t in os.listdir(src):
            for name in os.listdir(os.path.join(src, t)):
                if name.endswith('.eml.tmpl'):
                    os.makedirs(os.path.join(self.tdir, t), exist_ok=True)
                    shutil.copy(os.path.join(src, t, name), os.path.join(self.tdir, t, name))
        self.gw_dir = self.path('gateway')
        self.ndocs = 0
        self.config_sms(None, transport='none')

    # -- setting up ---------------------------------------------------------------

    def start_gw(self, mode='kannel', **kw):
        g = sms_gateway.Gateway(self.gw_dir, mode=mode, **kw).start()
        self.addCleanup(g.stop)
        return g

    def config_sms(self, url, transport=None, sms_types='after_sales,order', templates=None,
                   **keys):
        """The workspace INI plus [store] templates, [run] (fallback none,
        sms_types) and [sms] (kannel credentials, json token, sender, ...
        unless overridden by keys; a key given as None is left out).  The
        test gateways listen on http://127.0.0.1: allow_plaintext_auth =
        yes lets the credentials go to them."""
        if url is not None and not isinstance(url, str):
            if transport is None:
                transport = url.protocol
            url = url.url
        opts = {'transport': transport or 'kannel', 'url': url or '', 'username': 'kuser',
                'password': 'kpass', 'token': 'tok123', 'sender': 'POSTIER', 'dlr_mask': 0,
                'dlr_url': '', 'max_segments': 3, 'connections': 2, 'timeout': 10,
                'max_attempts': 3, 'allow_plaintext_auth': 'yes'}
        opts.update(keys)
        opts = {k: v for k, v in opts.items() if v is not None}
        self.write_config(self.base_ini +
                          '\n[store]\ntemplates = %s\n' % (templates or self.tdir) +
                          '[run]\nfallback = none\nsms_types = %s\n' % sms_types +
                          '[sms]\n' + ''.join('%s = %s\n' % kv for kv in opts.items()))

    def sms_template(self, text, doc_type='order', locale='fr'):
        """Writes templates/<type>/<locale>.sms.tmpl (no final newline) and
        returns its bytes."""
        data = text.encode('utf-8')
        self.write_template(doc_type, '%s.sms.tmpl' % locale, data)
        return data

    def book(self, contacts):
        """Party P1 and its contacts: dicts with last_name, first_name, phones,
        fax, email, locale, flags (default order).  Returns {last_name: id}."""
        self.ok('parties', 'import', self.write('p.csv', csv_text(
            ['ref', 'kind', 'name', 'email'],
            [{'ref': 'P1', 'kind': 'client', 'name': PARTY, 'email': 'accueil@lefevre.example'}])))
        rows = []
        for i, c in enumerate(contacts):
            r = {'party_ref': 'P1', 'locale': 'fr', 'flags': 'order', 'display_order': i + 1,
                 'email': 'c%02d@lefevre.example' % (i + 1)}
            r.update(c)
            rows.append(r)
        self.ok('contacts', 'import', self.write('c.csv', csv_text(
            ['party_ref', 'civility', 'last_name', 'first_name', 'email', 'phones', 'fax',
             'locale', 'display_order', 'flags'], rows)))
        ids = {c['last_name']: c['id'] for c in self.contacts()}
        self.assertEqual(len(ids), len(contacts), ids)
        return ids

    def docs(self, doc_type, msgs, name=None):
        """One document of doc_type per msg (the `msg` field, for the SMS
        templates {{doc.msg}}), refs O001... (order), A001... etc.  Returns
        the refs in order."""
        refs, rows = [], []
        for m in msgs:
            self.ndocs += 1
            ref = '%s%03d' % (doc_type[0].upper(), self.ndocs)
            refs.append(ref)
            rows.append({'ref': ref, 'party_ref': 'P1', 'amount': '%d.50' % (100 + self.ndocs),
                         'msg': m})
        self.ok('documents', 'import',
                self.write(name or 'd%d.csv' % self.ndocs,
                           csv_text(['ref', 'party_ref', 'amount', 'msg'], rows)),
                '--type', doc_type)
        return refs

    # -- running and reading ------------------------------------------------------

    def sms_rows(self):
        rows = [h for h in self.history_rows() if h['channel'] == 'sms']
        for h in rows:
            self.assertEqual(h['party_ref'], 'P1', h)
        return rows

    def events_of(self, number, doc=None):
        """[(event, reason, server_reply)] of the SMS rows of one number."""
        return [(h['event'], h['reason'], h['server_reply']) for h in self.sms_rows()
                if h['address'] == number and (doc is None or h['document_ref'] == doc)]

    def verify(self):
        r = self.ok('history', 'verify')
        self.assertIn('intact', r.out)

    def maildir(self):
        d = self.path('spool', 'sent', 'new')
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def assert_kannel(self, req, to, text, ucs2=False, dlr=None):
        """One Kannel sendsms request, exactly."""
        self.assertEqual(req['method'], 'GET', req)
        split = urllib.parse.urlsplit(req['path'])
        self.assertEqual(split.path, '/cgi-bin/sendsms', req)
        self.assertIn('to=%2B' + to[1:], split.query, "'+' of the number not URL-encoded")
        want = {'username': ['kuser'], 'password': ['kpass'], 'from': ['POSTIER'],
                'to': [to], 'text': [text], 'charset': ['UTF-8']}
        if ucs2:
            want['coding'] = ['2']
        if dlr:
            want['dlr-mask'] = [str(dlr[0])]
            want['dlr-url'] = [dlr[1]]
        self.assertEqual(req['query'], want)
        self.assertEqual(req['body'], b'')

    def assert_json(self, req, to, text):
        """One JSON POST request, exactly."""
        self.assertEqual(req['method'], 'POST', req)
        self.assertEqual(req['path'], '/api/sms', req)
        self.assertEqual(req['headers'].get('authorization'), 'Bearer tok123', req)
        self.assertEqual(req['headers'].get('content-type'), 'application/json', req)
        obj = {'from': 'POSTIER', 'to': to, 'text': text}
        self.assertEqual(json.loads(req['body'].decode('utf-8')), obj)
        # compact, this key order, raw UTF-8 (no \u escapes)
        self.assertEqual(req['body'].decode('utf-8'),
                         json.dumps(obj, ensure_ascii=False, separators=(',', ':')))


class Protocols(SmsCase):
    def test_kannel_exact_request_then_ucs2_and_dlr(self):
        tmpl = self.sms_template('Bonjour {{contact.first_name}}, commande {{doc.ref}} de '
                                 '{{party.name}} : {{doc.msg}}')
        ids = self.book([dict(civility='Mme', last_name='Martin', first_name='Élodie',
                              phones='06 12 34 56 78')])
        gw = self.start_gw('kannel')
        self.config_sms(gw)
        (o1,) = self.docs('order', ['livrée à 14h, 25 kg.'])
        r = self.run_job(rc=0)
        text1 = 'Bonjour Élodie, commande %s de %s : livrée à 14h, 25 kg.' % (o1, PARTY)
        self.assertEqual(measure(text1), ('GSM-7', 1))
        reqs = gw.requests()
        self.assertEqual(len(reqs), 1, reqs)
        self.assert_kannel(reqs[0], '+33612345678', text1)
        self.assertEqual(reqs[0]['status'], 202)
        rows = self.sms_rows()
        self.assertEqual([(h['event'], h['address'], h['contact_id'], h['document_ref'],
                           h['document_type'], h['reason']) for h in rows],
                         [(ev, '+33612345678', ids['Martin'], o1, 'order', None)
                          for ev in ('queued', 'sent')])
        self.assertEqual(rows[1]['server_reply'], KANNEL_OK + ' (GSM-7, 1 segment)')
        for h in rows:
            self.assertEqual(h['template'], 'order/fr.sms.tmpl')
            self.assertEqual(h['template_sha256'], hashlib.sha256(tmpl).hexdigest())
            self.assertIsNone(h['campaign'])
        # e-mail as before, to the same contact
        mail = [h for h in self.history_rows() if h['channel'] == 'email' and h['event'] == 'sent']
        self.assertEqual([(h['address'], h['document_ref']) for h in mail],
                         [('c01@lefevre.example', o1)])
        self.assertEqual(len(self.maildir()), 1)
        s = self.run_summary(r)
        self.assertEqual(s['documents'], 1)
        self.assertEqual(s['sent'], len([h for h in self.history_rows() if h['event'] == 'sent']),
                         'the summary does not count every channel:\n%r' % r)
        self.assertEqual((s['deferred'], s['failed']), (0, 0))
        # UCS-2 text, delivery reports asked for
        dlr_url = 'http://127.0.0.1:9/dlr?id=%i&status=%d&to=%p'
        self.config_sms(gw, dlr_mask=31, dlr_url=dlr_url)
        (o2,) = self.docs('order', ['reçue.'])
        self.run_job(rc=0)
        text2 = 'Bonjour Élodie, commande %s de %s : reçue.' % (o2, PARTY)
        self.assertEqual(measure(text2), ('UCS-2', 1))
        reqs = gw.requests()
        self.assertEqual(len(reqs), 2, reqs)
        self.assert_kannel(reqs[1], '+33612345678', text2, ucs2=True, dlr=(31, dlr_url))
        self.assertEqual(self.events_of('+33612345678', o2),
                         [('queued', None, None),
                          ('sent', None, KANNEL_OK + ' (UCS-2, 1 segment)')])
        self.verify()
        # a second run sends nothing
        rows = len(self.history_rows())
        mails = self.maildir()
        r = self.run_job(rc=0)
        s = self.run_summary(r)
        self.assertEqual((s['documents'], s['queued'], s['sent']), (0, 0, 0))
        self.assertEqual(len(gw.requests()), 2)
        self.assertEqual(len(self.history_rows()), rows)
        self.assertEqual(self.maildir(), mails)

    def test_json_exact_request_and_gateway_id(self):
        self.sms_template('Bonjour {{contact.first_name}},\nvotre commande {{doc.ref}} est '
                          'prête : "{{doc.msg}}" (réf. A\\B)')
        self.book([dict(last_name='Martin', first_name='Élodie', phones='06 12 34 56 78'),
                   dict(last_name='Lefèvre', first_name='Jérôme', phones='07 98 76 54 32')])
        gw = self.start_gw('json')
        self.assertTrue(gw.url.endswith('/api/sms'))
        self.config_sms(gw)
        (o1,) = self.docs('order', ['colis n°4 📦'])
        self.run_job(rc=0)
        texts = {'+33612345678': 'Bonjour Élodie,\nvotre commande %s est prête : '
                                 '"colis n°4 📦" (réf. A\\B)' % o1,
                 '+33798765432': 'Bonjour Jérôme,\nvotre commande %s est prête : '
                                 '"colis n°4 📦" (réf. A\\B)' % o1}
        reqs = gw.requests()
        self.assertEqual(sorted(r['to'] for r in reqs), sorted(texts))
        gw_ids = {}
        for req in reqs:
            self.assert_json(req, req['to'], texts[req['to']])
            self.assertEqual(req['status'], 200)
            gw_ids[req['to']] = json.loads(req['reply'])['id']
        self.assertEqual(sorted(gw_ids.values()), ['gw-1', 'gw-2'])
        for to, text in texts.items():
            coding, n = measure(text)
            self.assertEqual(coding, 'UCS-2')
            self.assertEqual(self.events_of(to),
                             [('queued', None, None),
                              ('sent', None, '200 id %s (%s, %s)' % (gw_ids[to], coding, segs(n)))])
        self.verify()


class Numbers(SmsCase):
    # (as written in the contacts CSV, the `to` the gateway must receive)
    SPELLINGS = [
        ('06 12 34 56 78', '+33612345678'),
        ('06.98.76.54.32', '+33698765432'),
        ('07-11-22-33-44', '+33711223344'),
        ('+33 7 12 34 56 78', '+33712345678'),
        ('+33 (0)6 45 67 89 01', '+33645678901'),
        ('0033611223345', '+33611223345'),
        ('06\u00a055\u00a066\u00a077\u00a088', '+33655667788'),
        ('0690 12 34 56', '+590690123456'),    # Guadeloupe
        ('0691 22 33 44', '+590691223344'),    # Guadeloupe, Saint-Martin
        ('+33 6 90 98 76 54', '+590690987654'),
        ('0694 12 34 56', '+594694123456'),    # Guyane
        ('0696 12 34 56', '+596696123456'),    # Martinique
        ('0697 12 34 56', '+596697123456'),
        ('0692 12 34 56', '+262692123456'),    # La Réunion
        ('0693 12 34 56', '+262693123456'),
        ('0639 12 34 56', '+262639123456'),    # Mayotte
        ('+590 690 55 66 77', '+590690556677'),
        ('+32 470 12 34 56', '+32470123456'),  # Belgian mobile
        ('+41 79 123 45 67', '+41791234567'),  # Swiss mobile
    ]

    def test_real_spellings_to_e164(self):
        self.sms_template('Commande {{doc.ref}} prête.')
        contacts = [dict(last_name='N%02d' % i, first_name='Client', phones=spelling)
                    for i, (spelling, _) in enumerate(self.SPELLINGS)]
        ids = self.book(contacts)
        gw = self.start_gw('kannel')
        self.config_sms(gw)
        (o1,) = self.docs('order', ['x'])
        self.run_job(rc=0)
        want = {ids['N%02d' % i]: to for i, (_, to) in enumerate(self.SPELLINGS)}
        sent = {h['contact_id']: h['address'] for h in self.sms_rows() if h['event'] == 'sent'}
        self.assertEqual(sent, want)
        reqs = gw.requests()
        self.assertEqual(sorted(r['to'] for r in reqs), sorted(want.values()))
        for req in reqs:
            self.assert_kannel(req, req['to'], 'Commande %s prête.' % o1, ucs2=True)

    def test_landline_fax_never_texted_and_first_mobile(self):
        self.sms_template('Commande {{doc.ref}} confirmée.')
        ids = self.book([
            dict(last_name='Fixe', first_name='Anne', phones='01 42 68 53 00'),
            dict(last_name='Box', first_name='Luc', phones='09 72 10 20 30',
                 fax='06 11 22 33 44'),
            dict(last_name='Faxonly', first_name='Zoé', phones='', fax='07 11 22 33 44'),
            dict(last_name='Bruxelles', first_name='Inès', phones='+32 2 123 45 67'),
            dict(last_name='Gwada', first_name='Noël', phones='0590 12 34 56'),
            dict(last_name='Several', first_name='Hervé',
                 phones='01 42 68 53 00;07 98 76 54 32;06 12 34 56 78'),
            dict(last_name='Same', first_name='Jérôme', phones='+33 7 98 76 54 32'),
        ])
        gw = self.start_gw('kannel')
        self.config_sms(gw)
        (o1,) = self.docs('order', ['x'])
        self.run_job(rc=0)
        reqs = gw.requests()
        self.assertEqual([r['to'] for r in reqs], ['+33798765432'], 'only the first mobile, once')
        self.assert_kannel(reqs[0], '+33798765432', 'Commande %s confirmée.' % o1)
        rows = self.sms_rows()
        by = {}
        for h in rows:
            by.setdefault(h['contact_id'], []).append((h['event'], h['reason']))
        for name in ('Fixe', 'Box', 'Faxonly', 'Bruxelles', 'Gwada'):
            self.assertEqual(by.get(ids[name]), [('skipped', 'no_phone')], name)
        self.assertEqual(by.get(ids['Several']), [('queued', None), ('sent', None)])
        self.assertEqual(by.get(ids['Same']), [('skipped', 'duplicate_address')])
        for h in rows:
            self.assertEqual((h['document_ref'], h['document_type']), (o1, 'order'), h)
        # the e-mails still go to everyone
        self.assertEqual(len(self.maildir()), 7)
        self.verify()


class Coding(SmsCase):
    def test_coding_and_segments(self):
        cases = [  # (text, coding, segments)
            (filler(160), 'GSM-7', 1),
            (filler(161), 'GSM-7', 2),
            (filler(158) + '€', 'GSM-7', 1),        # 159 characters, 160 septets
            (filler(159) + '€', 'GSM-7', 2),        # 160 characters, 161 septets
            (filler(144) + '^{}\\[~]|', 'GSM-7', 1),   # 152 characters, 160 septets
            (filler(145) + '^{}\\[~]|', 'GSM-7', 2),   # 153 characters, 161 septets
            (filler(307), 'GSM-7', 3),
            ('Écrit à Göteborg : 5 £, 3 ¥, 2 $ @ 10 % (ÆØÅ ñ ß Σ).', 'GSM-7', 1),
            (filler(69) + 'ê', 'UCS-2', 1),
            (filler(70) + 'ê', 'UCS-2', 2),
            (filler(68) + '😀', 'UCS-2', 1),       # 69 characters, 70 UTF-16 units
            (filler(69) + '😀', 'UCS-2', 2),       # 70 characters, 71 units
            ('Colis reçu.', 'UCS-2', 1),
            ('Bon œuvre.', 'UCS-2', 1),
        ]
        for text, coding, n in cases:
            self.assertEqual(measure(text), (coding, n), text)
        self.sms_template('{{doc.msg}}')
        self.book([dict(last_name='Martin', first_name='Élodie', phones='06 12 34 56 78')])
        gw = self.start_gw('kannel')
        self.config_sms(gw, connections=1)
        refs = self.docs('order', [c[0] for c in cases])
        self.run_job(rc=0)
        by_text = {}
        for req in gw.requests():
            by_text.setdefault(req['query'].get('text', [None])[0], []).append(req)
        self.assertEqual(sorted(by_text, key=str), sorted((c[0] for c in cases), key=str))
        replies = {h['document_ref']: h['server_reply'] for h in self.sms_rows()
                   if h['event'] == 'sent'}
        for ref, (text, coding, n) in zip(refs, cases):
            self.assertEqual(len(by_text[text]), 1, text)
            self.assert_kannel(by_text[text][0], '+33612345678', text, ucs2=coding == 'UCS-2')
            self.assertEqual(replies.get(ref), '%s (%s, %s)' % (KANNEL_OK, coding, segs(n)),
                             text)

    def test_too_long(self):
        self.sms_template('{{doc.msg}}')
        self.book([dict(last_name='Martin', first_name='Élodie', phones='06 12 34 56 78')])
        gw = self.start_gw('kannel')
        self.config_sms(gw, max_segments=1)
        long_text, short = filler(161), filler(160)
        t1, t2, t3 = self.docs('order', [long_text, short, filler(70) + 'ê'])
        r = self.run_job(rc=1)
        self.assertEqual(self.run_summary(r)['failed'], 2)
        self.assertEqual([q['query']['text'] for q in gw.requests()], [[short]])
        for ref in (t1, t3):
            ev = self.events_of('+33612345678', ref)
            self.assertTrue(ev, ref)
            self.assertEqual(ev[-1][:2], ('failed', 'too_long'), ev)
            self.assertNotIn('sent', [e[0] for e in ev])
        self.assertEqual([e[0] for e in self.events_of('+33612345678', t2)], ['queued', 'sent'])
        # never retried
        rows = len(self.history_rows())
        r = self.run_job()
        self.assertNotEqual(r.rc, 2, r)
        self.assertEqual(len(gw.requests()), 1)
        self.assertEqual(len(self.history_rows()), rows)
        self.verify()


class Answers(SmsCase):
    texts = None

    def two(self):
        """Two contacts, one order: {number: (text, coding)}; Élodie's text
        is GSM-7, Jérôme's UCS-2 (ô)."""
        self.sms_template('Commande {{doc.ref}} livrée, {{contact.first_name}}.')
        self.book([dict(last_name='Martin', first_name='Élodie', phones='06 12 34 56 78'),
                   dict(last_name='Lefèvre', first_name='Jérôme', phones='07 98 76 54 32')])
        (o1,) = self.docs('order', ['x'])
        texts = {'+33612345678': ('Commande %s livrée, Élodie.' % o1, 'GSM-7'),
                 '+33798765432': ('Commande %s livrée, Jérôme.' % o1, 'UCS-2')}
        for text, coding in texts.values():
            self.assertEqual(measure(text), (coding, 1))
        return texts

    def assert_retried_once(self, gw, number, first_status):
        reqs = [q for q in gw.requests() if q['to'] == number]
        self.assertEqual([q['status'] for q in reqs], [first_status, reqs[-1]['status']])
        self.assertEqual(reqs[1]['status'] // 100, 2)
        if self.texts:
            want = self.texts[number][0]
            for q in reqs:
                got = (q['query'].get('text') or [json.loads(q['body'] or b'{}').get('text')])[0]
                self.assertEqual(got, want)
        self.assertEqual((reqs[0]['path'], reqs[0]['body']), (reqs[1]['path'], reqs[1]['body']),
                         'the retry is not the same request')
        gap = reqs[1]['t'] - reqs[0]['t']
        self.assertGreater(gap, 0.7, 'no backoff before the retry')
        self.assertLess(gap, 10)
        return reqs

    def test_500_once_deferred_then_sent(self):
        numbers = self.texts = self.two()
        gw = self.start_gw('kannel+fail-once')
        self.config_sms(gw, max_attempts=3)
        r = self.run_job(rc=0)
        s = self.run_summary(r)
        self.assertEqual((s['deferred'], s['failed']), (0, 0))
        for n in numbers:
            self.assert_retried_once(gw, n, 500)
            ev = self.events_of(n)
            self.assertEqual([e[:2] for e in ev],
                             [('queued', None), ('deferred', 'tempfail'), ('sent', None)], ev)
            self.assertTrue(ev[1][2].startswith('500'), ev)
            self.assertIn('Internal error', ev[1][2])
            self.assertEqual(ev[2][2], KANNEL_OK + ' (%s, 1 segment)' % numbers[n][1])
        self.assertEqual(sorted(q['to'] for q in gw.accepted()), sorted(numbers))
        self.verify()

    def test_429_once_deferred_then_sent(self):
        numbers = self.texts = self.two()
        gw = self.start_gw('json+throttle-once')
        self.config_sms(gw, max_attempts=2)
        self.run_job(rc=0)
        ids = {q['to']: json.loads(q['reply'])['id'] for q in gw.accepted()}
        self.assertEqual(sorted(ids), sorted(numbers))
        for n in numbers:
            self.assert_retried_once(gw, n, 429)
            ev = self.events_of(n)
            self.assertEqual([e[:2] for e in ev],
                             [('queued', None), ('deferred', 'tempfail'), ('sent', None)], ev)
            self.assertTrue(ev[1][2].startswith('429'), ev)
            self.assertEqual(ev[2][2], '200 id %s (%s, 1 segment)' % (ids[n], numbers[n][1]))
        self.verify()

    def test_dropped_connection_deferred_then_sent(self):
        numbers = self.texts = self.two()
        gw = self.start_gw('kannel+drop-once')
        self.config_sms(gw)
        self.run_job(rc=0)
        for n in numbers:
            self.assert_retried_once(gw, n, None)
            self.assertEqual([e[:2] for e in self.events_of(n)],
                             [('queued', None), ('deferred', 'connection'), ('sent', None)])
        self.assertEqual(len(gw.accepted()), 2)

    def test_400_rejected_not_retried(self):
        self.sms_template('Commande {{doc.ref}} prête.')
        self.book([dict(last_name='Martin', first_name='Élodie', phones='06 12 34 56 78'),
                   dict(last_name='Faux', first_name='Luc', phones='06 12 34 56 99')])
        self.docs('order', ['x'])
        gw = self.start_gw('kannel+reject')
        self.config_sms(gw)
        r = self.run_job(rc=1)
        s = self.run_summary(r)
        self.assertEqual((s['deferred'], s['failed']), (0, 1))
        self.assertEqual([q['status'] for q in gw.requests() if q['to'] == '+33612345699'], [400])
        ev = self.events_of('+33612345699')
        self.assertEqual([e[:2] for e in ev], [('queued', None), ('failed', 'rejected')])
        self.assertTrue(ev[1][2].startswith('400'), ev)
        self.assertIn('Invalid destination', ev[1][2])
        self.assertEqual([e[0] for e in self.events_of('+33612345678')], ['queued', 'sent'])
        n, rows = len(gw.requests()), len(self.history_rows())
        r = self.run_job()
        self.assertNotEqual(r.rc, 2, r)
        self.assertEqual(self.run_summary(r)['sent'], 0)
        self.assertEqual(len(gw.requests()), n)
        self.assertEqual(len(self.history_rows()), rows)
        self.verify()

    def test_unreachable_then_back(self):
        numbers = self.two()
        port = free_port()
        self.config_sms('http://127.0.0.1:%d/cgi-bin/sendsms' % port, transport='kannel',
                        max_attempts=2, timeout=5)
        # as with SMTP: nobody listening stops the run with one error line,
        # everything left deferred for the next run
        r = self.fails('run', '--date', DATE, rc=75, contains='cannot connect')
        self.assertEqual(len(r.err.strip().splitlines()), 1, r)
        self.assertEqual(self.run_summary(r)['deferred'], 2)
        for n in numbers:
            ev = self.events_of(n)
            self.assertGreaterEqual(len(ev), 2, ev)
            self.assertEqual(ev[0], ('queued', None, None))
            self.assertEqual({e[:2] for e in ev[1:]}, {('deferred', 'connection')}, ev)
        deferred = len(self.sms_rows())
        gw = self.start_gw('kannel', port=port)
        r = self.run_job(rc=0)
        s = self.run_summary(r)
        self.assertEqual((s['documents'], s['sent'], s['deferred']), (0, 2, 0))
        self.assertEqual(sorted((q['to'], q['query']['text'][0]) for q in gw.requests()),
                         sorted((n, t[0]) for n, t in numbers.items()))
        for n in numbers:
            self.assertEqual(self.events_of(n)[-1],
                             ('sent', None, KANNEL_OK + ' (%s, 1 segment)' % numbers[n][1]))
        self.assertEqual(len(self.sms_rows()), deferred + 2)
        self.verify()

    def test_no_answer_in_time(self):
        self.sms_template('Commande {{doc.ref}} prête.')
        self.book([dict(last_name='Martin', first_name='Élodie', phones='06 12 34 56 78')])
        self.docs('order', ['x'])
        gw = self.start_gw('kannel', delay=4)
        self.config_sms(gw, max_attempts=2, timeout=1)
        self.run_job(rc=75)
        self.assertEqual([e[:2] for e in self.events_of('+33612345678')],
                         [('queued', None), ('deferred', 'timeout'), ('deferred', 'timeout')])
        self.assertEqual(len(gw.requests()), 2)


class Selection(SmsCase):
    def test_sms_types_respected(self):
        # the shipped templates, fr and en
        ids = self.book([
            dict(last_name='Martin', first_name='Élodie', phones='06 12 34 56 78',
                 flags='invoice|order|after_sales'),
            dict(last_name='Smith', first_name='Jane', phones='+44 7700 900123', locale='en',
                 flags='invoice|order|after_sales')])
        gw = self.start_gw('kannel')
        self.config_sms(gw, templates=e2e.TEMPLATES)
        (f1,) = self.docs('invoice', [''])
        (o2,) = self.docs('order', [''])
        (a3,) = self.docs('after_sales', [''])
        self.run_job(rc=0)
        reqs = gw.requests()
        self.assertEqual(len(reqs), 4, [q['query'] for q in reqs])
        sent = sorted((h['document_ref'], h['document_type'], h['address'], h['template'])
                      for h in self.sms_rows() if h['event'] == 'sent')
        self.assertEqual(sent, sorted([
            (o2, 'order', '+33612345678', 'order/fr.sms.tmpl'),
            (o2, 'order', '+447700900123', 'order/en.sms.tmpl'),
            (a3, 'after_sales', '+33612345678', 'after_sales/fr.sms.tmpl'),
            (a3, 'after_sales', '+447700900123', 'after_sales/en.sms.tmpl')]))
        self.assertNotIn(f1, [h['document_ref'] for h in self.sms_rows()])
        for q in reqs:
            text = q['query']['text'][0]
            self.assertTrue(o2 in text or a3 in text, text)
            self.assertNotIn('{{', text)
        # every document still went by e-mail, to both contacts
        mail = sorted((h['document_ref'], h['contact_id']) for h in self.history_rows()
                      if h['channel'] == 'email' and h['event'] == 'sent')
        self.assertEqual(mail, sorted((d, c) for d in (f1, o2, a3) for c in ids.values()))

    def test_transport_none_and_no_sms_types(self):
        self.sms_template('Commande {{doc.ref}} prête.')
        self.book([dict(last_name='Martin', first_name='Élodie', phones='06 12 34 56 78')])
        gw = self.start_gw('kannel')
        self.config_sms(gw, transport='none')
        self.docs('order', ['x'])
        self.run_job(rc=0)
        self.assertEqual(gw.requests(), [])
        self.assertEqual(self.sms_rows(), [])
        self.assertEqual(len(self.maildir()), 1)
        # kannel, but order not among the SMS types
        self.config_sms(gw, sms_types='after_sales')
        self.docs('order', ['y'])
        self.run_job(rc=0)
        self.assertEqual(gw.requests(), [])
        self.assertEqual(self.sms_rows(), [])
        self.assertEqual(len(self.maildir()), 2)
        # the control: with order among them, the next order goes by SMS
        self.config_sms(gw, sms_types='order')
        (o3,) = self.docs('order', ['z'])
        self.run_job(rc=0)
        self.assertEqual([(q['to'], q['query']['text']) for q in gw.requests()],
                         [('+33612345678', ['Commande %s prête.' % o3])])
        self.assertEqual(len(self.maildir()), 3)

    def test_maildir_transport_keeps_each_sms_as_a_message(self):
        """[sms] transport = maildir: no gateway; each SMS is a message to
        <number>@sms.invalid in spool/sms, whose body is the exact text."""
        self.sms_template('Commande {{doc.ref}} prête, {{contact.first_name}}.')
        self.book([dict(last_name='Martin', first_name='Élodie', phones='0690 12 34 56'),
                   dict(last_name='Petit', first_name='Jean', phones='01 45 67 89 01')])
        self.config_sms(None, transport='maildir')
        (o1,) = self.docs('order', ['x'])
        self.run_job(rc=0)
        files = sorted(glob.glob(self.path('spool', 'sms', 'new', '*')))
        self.assertEqual(len(files), 1, files)
        with open(files[0], 'rb') as f:
            msg = email.message_from_bytes(f.read(), policy=email.policy.default)
        self.assertEqual(msg.defects, [])
        self.assertEqual(msg['To'].addresses[0].addr_spec, '+590690123456@sms.invalid')
        self.assertEqual(msg.get_content().rstrip('\n'), 'Commande %s prête, Élodie.' % o1)
        sent = [r for r in self.sms_rows() if r['event'] == 'sent']
        self.assertEqual([r['address'] for r in sent], ['+590690123456'])
        skipped = [r for r in self.sms_rows() if r['event'] == 'skipped']
        self.assertEqual([r['reason'] for r in skipped], ['no_phone'])
        self.verify()


if __name__ == '__main__':
    unittest.main(verbosity=2)
