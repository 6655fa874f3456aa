/* The command line: a table of commands, one file per command, shared
 * option handling (config, database, listing formats, record fields as
 * options), and the single place where errors become messages on stderr and
 * exit statuses (0 ok, 1 partial failure, 2 usage/config/input error, 75
 * temporary: nothing failed but something is left for later). */
#ifndef POSTIER_CLI_H
#define POSTIER_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "config/config.h"
#include "export/export.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"

#define EXIT_PARTIAL 1
#define EXIT_USAGE 2
#define EXIT_TEMPFAIL 75 /* sysexits.h EX_TEMPFAIL */

struct cli {
    const char *config_path; /* --config, POSTIER_CONFIG or the default */
    const char *db_path;     /* --db, overrides [store] database */
    char *config_db;         /* [store] database, when --db replaced it */
    struct config *cfg;
    struct store *store;
    int no_key;      /* set before cli_open_store: never make the history key */
    int key_created; /* cli_open_store made it */
};

struct cli_cmd {
    const char *name;
    int (*run)(struct cli *c, int argc, char **argv);
    const char *summary;
    const char *usage; /* full help text printed by --help */
};

/* Entry point called by main(): global options then dispatch. */
int cli_main(int argc, char **argv);

/* Runs the subcommand argv[0] from cmds (NULL-name terminated) under the
 * command group name ("contacts"); prints the group's help for --help or
 * no subcommand.  Returns an exit status. */
int cli_dispatch(struct cli *c, const char *group, const struct cli_cmd *cmds, int argc,
                 char **argv);

/* Loads the configuration / opens the database (creating it if needed).
 * Return 0 or an exit status after printing the error.  No --config, no
 * POSTIER_CONFIG and no config/postier.ini: "no configuration", exit 2.
 * Once loaded, [run] timezone is the process's local zone (date_use_zone). */
int cli_load_config(struct cli *c);
int cli_open_store(struct cli *c);

/* tmpl_install from the shipped templates (installed, else the source
 * tree's) into dest: only when dest is missing or empty. */
int cli_install_templates(const char *dest, int *copied, struct err *e);

/* Prints "postier: <msg>" and returns the exit status for e->code. */
int cli_fail(const struct err *e);
/* Prints "postier: <fmt>" and "Try '<cmd> --help'." and returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Exit status for an ERR_* code. */
int cli_status(int code);
/* Non-zero when argv holds -h or --help before any "--". */
int cli_wants_help(int argc, char **argv);

/* The terminal (term.c).  cli_term_init puts a filter on stdout and
 * stderr that shows the control characters of data visibly (ESC as ^[, CR
 * as ^M, BEL as ^G, DEL as ^?, C1 controls and invalid UTF-8 as U+FFFD);
 * cli_term_done flushes and removes it (non-zero when stdout could not be
 * written).  cli_term_machine lets stdout pass untouched when it is not a
 * terminal (csv or json for a program).  cli_term_rawerr is stderr
 * unfiltered, for the progress line's own CR.  cli_term_width is the
 * width of the terminal on stdout ($COLUMNS first), 0 when not a terminal. */
void cli_term_init(void);
int cli_term_done(void);
void cli_term_machine(void);
FILE *cli_term_rawerr(void);
unsigned cli_term_width(void);

/* Listing options shared by every list command: --format, --page,
 * --per-page, --wide.  CLI_LIST_LONGOPTS goes into a struct option array. */
struct cli_list {
    enum export_format fmt;
    long long page, per_page;
    int paged; /* --page or --per-page given, or the table format */
    int wide;  /* --wide: a table's cells are never cut */
};
#define OPT_FORMAT 0x1001
#define OPT_PAGE 0x1002
#define OPT_PER_PAGE 0x1003
#define OPT_WIDE 0x1004
#define CLI_LIST_LONGOPTS                                                                      \
    {"format", required_argument, NULL, OPT_FORMAT},                                           \
        {"page", required_argument, NULL, OPT_PAGE},                                           \
        {"per-page", required_argument, NULL, OPT_PER_PAGE},                                   \
        {"wide", no_argument, NULL, OPT_WIDE}
#define CLI_LIST_HELP                                                                          \
    "  --format table|csv|json  output format (default table; csv and json print\n"          \
    "                           every matching row unless --page/--per-page)\n"               \
    "  --page N, --per-page N   pagination (table: 50 rows a page)\n"                         \
    "  --wide                   a table shows every cell whole (on a terminal it\n"          \
    "                           fits the width, cutting the widest with '...')\n"

void cli_list_init(struct cli_list *l);
/* Handles one of the OPT_* options; returns 1 when handled, 0 when opt is
 * not a listing option, -1 (after printing) on a bad value. */
int cli_list_opt(struct cli_list *l, const char *cmd, int opt, const char *arg);
/* Fills limit/offset of q from the paging state. */
void cli_list_query(const struct cli_list *l, struct store_query *q);
/* Sets the table options of xo from l: the terminal's width, or --wide. */
void cli_list_xo(const struct cli_list *l, struct export_opts *xo);

/* Exports to a file (`contacts export`, `history export`): --format
 * csv|xlsx, -o FILE, --bom, --separator.  cli_export_opt handles one
 * option (1; 0 when not one of these; -1 after printing a usage error);
 * cli_export_begin opens the file and starts the exporter; cli_export_end
 * finishes it (or aborts it when failed) and closes the file.  Each
 * returns 0 or an exit status after printing. */
struct cli_export {
    enum export_format fmt;
    struct export_opts xo;
    const char *out;
    FILE *fp;
    struct exporter *x;
};
#define CLI_EXPORT_LONGOPTS                                                                    \
    {"format", required_argument, NULL, 'f'}, {"output", required_argument, NULL, 'o'},        \
        {"bom", no_argument, NULL, 'b'}, {"separator", required_argument, NULL, 'S'}
#define CLI_EXPORT_HELP                                                                        \
    "  --format csv|xlsx   CSV (RFC 4180, formulas neutralised) or XLSX\n"                     \
    "  -o FILE             where (XLSX is written aside, then renamed)\n"                      \
    "  --bom, --separator ';'  CSV for Excel\n"
void cli_export_init(struct cli_export *x);
int cli_export_opt(struct cli_export *x, const char *cmd, int opt, const char *arg);
int cli_export_begin(struct cli_export *x, const char *cmd, const struct export_col *cols,
                     size_t n);
int cli_export_end(struct cli_export *x, int failed, struct err *e);

/* Records (parties, addresses, contacts) as output rows: columns "id" and
 * the kind's fields with their export types. */
const struct export_col *cli_rec_cols(enum store_kind kind, size_t *n);
/* Lists records of kind matching q in l's format to stdout; the table gets
 * a "page x/y, n <noun>" footer.  Returns an exit status. */
int cli_rec_list(struct cli *c, enum store_kind kind, struct store_query *q,
                 const struct cli_list *l, const char *noun);
/* Prints one record as "field: value" lines, or in fmt when csv/json. */
int cli_rec_show(const struct store_rec *r, enum export_format fmt);
/* Prints prefix, then s on one line (CR and LF from data as ^M and ^J),
 * then a newline, to fp: a dry-run line, an error quoting data. */
void cli_print_one_line(FILE *fp, const char *prefix, const char *s);
/* Prints "name  value" with name padded to width; the continuation lines
 * of a multi-line value are indented under the value, so that none can
 * pass for another field (a note "ok\nemail  x@y" in `show`). */
void cli_print_field(const char *name, int width, const char *v);

/* Record fields as options: --last-name, --party-ref (alias --party) ...
 * cli_rec_longopts appends them to opts (returns the new count); an option
 * value v >= OPT_FIELD is field v - OPT_FIELD. */
#define OPT_FIELD 0x2000
size_t cli_rec_longopts(enum store_kind kind, struct option *opts, size_t n);
/* Help lines for the field options of kind, appended to out. */
void cli_rec_options_help(enum store_kind kind, struct buf *out);

/* Generic record commands shared by parties, addresses and contacts:
 * add (fields as options), import FILE [--dry-run] [--sync], and reading
 * field options into a record.  Each returns an exit status. */
int cli_rec_add(struct cli *c, enum store_kind kind, const char *cmd, int argc, char **argv);
int cli_rec_import(struct cli *c, enum store_kind kind, const char *cmd, int argc, char **argv);
/* `parties list [--kind K]` and `addresses list [--party REF]`. */
int cli_rec_list_cmd(struct cli *c, enum store_kind kind, const char *cmd, int argc,
                     char **argv);

/* The subcommand implementations (one file each). */
int cmd_init(struct cli *c, int argc, char **argv);
int cmd_types(struct cli *c, int argc, char **argv);
int cmd_parties(struct cli *c, int argc, char **argv);
int cmd_addresses(struct cli *c, int argc, char **argv);
int cmd_contacts(struct cli *c, int argc, char **argv);
int cmd_demo(struct cli *c, int argc, char **argv);
int cmd_documents(struct cli *c, int argc, char **argv);
int cmd_templates(struct cli *c, int argc, char **argv);
int cmd_run(struct cli *c, int argc, char **argv);
int cmd_retry(struct cli *c, int argc, char **argv);
/* Prints the summary line of `run` or `retry` (what), then, when failed
 * messages wait, how many: "N failed messages wait for `postier retry`". */
struct run_opts;
struct run_summary;
void cli_run_summary(const char *what, const struct run_opts *o, const struct run_summary *s);
/* The end of `run` and `retry`: the summary (none when the lock refused
 * the job), the error if rc, and the exit status: 1 some message failed,
 * 75 only deferred (or stopped by a signal, or locked), 0 all sent. */
int cli_run_end(const char *what, const struct run_opts *o, const struct run_summary *s, int rc,
                const struct err *e);
/* SIGTERM/SIGINT: the first asks the job to stop cleanly
 * (run_request_stop), the second stops at once. */
void cli_catch_stop_signals(void);
int cmd_history(struct cli *c, int argc, char **argv);
int cmd_campaign(struct cli *c, int argc, char **argv);
int cmd_registry(struct cli *c, int argc, char **argv);
/* After a contact was saved or contacts imported (id 0: all): checks them
 * against the loaded register and says so when one matches.  Returns 0 or
 * an exit status after printing. */
int cli_registry_after_save(struct cli *c, long long id);
int cmd_unsubscribe(struct cli *c, int argc, char **argv);

#endif
