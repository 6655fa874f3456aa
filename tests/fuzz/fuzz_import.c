/* libFuzzer target: the contact import of both layouts (canonical §8
 * columns and seed 004), after the CSV reader: header mapping, per-row
 * validation and normalisation of every field.  Each input is written to
 * one temporary file and imported with --dry-run into an in-memory
 * database that holds the parties of tests/data/contacts (so the book
 * never changes from one input to the next). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "contacts/contacts.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static int fd = -1;
static struct store *db;

static void done(void)
{
    unlink(path);
    store_close(db);
}

static void ignore(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    struct import_opts o = {0};
    struct import_report rep = {0};
    struct err e = {0};

    snprintf(path, sizeof path, "%s/fuzz-import-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    fd = mkstemp(path);
    if (fd < 0 || store_open(":memory:", &db, &e) != 0 ||
        contacts_import(db, STORE_PARTY, FUZZ_DATA "/contacts/parties.csv", &o, &rep, &e) != 0 ||
        contacts_import(db, STORE_ADDRESS, FUZZ_DATA "/contacts/addresses.csv", &o, &rep, &e) != 0) {
        fprintf(stderr, "fuzz_import: setup: %s\n", e.msg);
        abort();
    }
    atexit(done);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct import_opts o = {0};
    struct import_report rep = {0};
    struct err e = {0};

    if (fd < 0)
        setup();
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    o.dry_run = 1;
    o.on_error = ignore;
    o.sync = size > 0 && data[size - 1] == '\n' && size % 2; /* sometimes --sync */
    contacts_import(db, STORE_CONTACT, path, &o, &rep, &e);
    return 0;
}
