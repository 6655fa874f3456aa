#!/usr/bin/python3
"""Writes a realistic canonical contacts CSV (and its parties) for the
import/search benchmark: N contacts over N/4 parties, French names with
accents, several phones, flags and consents, a few historical contacts."""
import random
import sys
import unicodedata

n = int(sys.argv[1])
out = sys.argv[2]
random.seed(42)
last = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
        "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David",
        "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier"]
first = ["Élodie", "Hélène", "Jérôme", "François", "Zoé", "Chloé", "Léa", "Noël", "Gaëlle",
         "Anaïs", "Jean", "Marie", "Pierre", "Sophie", "Luc", "Anne", "Paul", "Claire"]
cities = [("75002", "Paris"), ("69003", "Lyon"), ("13001", "Marseille"), ("31000", "Toulouse"),
          ("44000", "Nantes"), ("33000", "Bordeaux"), ("59000", "Lille"), ("67000", "Strasbourg")]
depts = ["Comptabilité", "Direction", "Logistique", "Achats", "Service client", ""]
flags = ["invoice|payment_reminder|due_notice", "order", "order|after_sales|receiver",
         "claim_settlement", "", "invoice|payment_reminder|due_notice|order|after_sales"]
consents = ["", "commercial", "commercial|partner", "esign", "sms_marketing"]


def ascii_of(s):
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower()


with open(out + ".parties.csv", "w", encoding="utf-8") as p:
    p.write("ref,kind,name\n")
    for i in range(n // 4 + 1):
        p.write(f"P{i:07d},client,Société {random.choice(last)} {i}\n")
with open(out, "w", encoding="utf-8") as f:
    f.write("party_ref,type,civility,last_name,first_name,company,department,function,email,"
            "phones,fax,address,postcode,city,country,site,website,note,locale,display_order,"
            "valid_from,valid_until,flags,consents\n")
    for i in range(n):
        ln, fn = random.choice(last), random.choice(first)
        pc, city = random.choice(cities)
        until = "2024-12-31" if i % 50 == 0 else ""
        phones = f"06 {i // 1000000 % 100:02d} {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d}"
        if i % 3 == 0:
            phones += f";01 4{i % 10} {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d}"
        f.write(f"P{i // 4:07d},,{'Mme' if i % 2 else 'M.'},{ln},{fn},Société {ln} {i // 4},"
                f"{random.choice(depts)},Responsable,{ascii_of(fn)[0]}.{ascii_of(ln)}{i}@exemple.fr,"
                f"\"{phones}\",,{i % 200} rue de la République,{pc},{city},France,,,"
                f"client depuis {2000 + i % 25},fr,,,{until},{random.choice(flags)},"
                f"{random.choice(consents)}\n")
