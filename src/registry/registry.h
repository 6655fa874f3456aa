/* The asset-freeze register (registre national des gels, SPEC §6
 * `registry`): reading the French Trésor's published JSON or a CSV with a
 * `name` column, and matching contact names against its entries ignoring
 * case, accents, punctuation and word order, aliases included.  Pure: no
 * database, never prints. */
#ifndef POSTIER_REGISTRY_H
#define POSTIER_REGISTRY_H

#include <stddef.h>

#include "util/err.h"

struct registry_entry {
    char *id;          /* IdRegistre ("9001"), or "line N" for a CSV */
    char *name;        /* as published: Nom (+ " " + Prenom for a person) */
    char *nature;      /* "Personne physique", "Personne morale", "Navire"..., or NULL */
    char *birth_date;  /* YYYY-MM-DD (or YYYY, YYYY-MM when partial), or NULL */
    char **aliases;    /* as published */
    size_t naliases;
};

struct registry_index; /* private: the keys of every name and alias, hashed */

struct registry {
    char *published;   /* DatePublication (ISO 8601), or NULL for a CSV */
    struct registry_entry *v;
    size_t n;
    struct registry_index *index; /* made by registry_load */
};

/* Loads path: JSON when it starts with '{' (Publications.DatePublication,
 * Publications.PublicationDetail[] with IdRegistre, Nature, Nom and
 * RegistreDetail[] of TypeChamp PRENOM / ALIAS / DATE_DE_NAISSANCE (Jour,
 * Mois, Annee) — other TypeChamp ignored), else CSV (',' or ';', UTF-8 or
 * Windows-1252; a `name` column, optional `birth_date` and `aliases`
 * ('|'-separated)).  ERR_INPUT naming the file and the entry / line and
 * field for bad input; ERR_IO when unreadable.  Free with registry_free. */
int registry_load(const char *path, struct registry *out, struct err *e);
void registry_free(struct registry *r);
/* The same from the len bytes at text (NUL-terminated), named path in
 * messages: how a register kept in the database is read again. */
int registry_parse(const char *path, const char *text, size_t len, struct registry *out,
                   struct err *e);

/* The matching key of a name: folded (case, accents, ligatures),
 * punctuation and hyphens as spaces, words sorted, single spaces
 * ("Lefèvre-Dupont, Jean" -> "dupont jean lefevre").  Caller frees. */
char *registry_key(const char *name);

/* The first entry a contact matches, or NULL.  The contact's keys: the key
 * of "first last" (of last alone when first is NULL or empty) and the key
 * of company; it matches an entry when one of them equals the key of the
 * entry's name or of one of its aliases (the same words in any order,
 * whatever the case, accents and punctuation).  Any of first, last,
 * company may be NULL.  *which (when not NULL) = the published name or
 * alias that matched; when several entries match, the one first in the
 * file wins.  Fast enough for a million contacts: keys of the entries are
 * computed once (registry_load) and looked up by hash.  Read-only: safe
 * from several threads. */
const struct registry_entry *registry_match(const struct registry *r, const char *first,
                                            const char *last, const char *company,
                                            const char **which);

#endif
