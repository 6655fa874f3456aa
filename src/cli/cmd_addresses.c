/* `postier addresses add|list|import`: a party's sites, each with its own
 * site contact (seed 002 level 2). */
#include "cli.h"

static int addresses_add(struct cli *c, int argc, char **argv)
{
    return cli_rec_add(c, STORE_ADDRESS, "addresses add", argc, argv);
}

static int addresses_import(struct cli *c, int argc, char **argv)
{
    return cli_rec_import(c, STORE_ADDRESS, "addresses import", argc, argv);
}

static int addresses_list(struct cli *c, int argc, char **argv)
{
    return cli_rec_list_cmd(c, STORE_ADDRESS, "addresses list", argc, argv);
}

static const struct cli_cmd subs[] = {
    {"add", addresses_add, "add or update a party's address (site)",
     "Usage: postier addresses add --party REF --label LABEL [OPTIONS]\n\n"
     "Adds a site to a party, or updates the party's site with that label.\n\n"
     "Options: --party --label --lines --postcode --city --country --contact-name\n"
     "         --contact-email --contact-phone\n"},
    {"list", addresses_list, "list addresses",
     "Usage: postier addresses list [--party REF] [--format table|csv|json]\n\n" CLI_LIST_HELP},
    {"import", addresses_import, "import addresses from CSV (all-or-nothing)",
     "Usage: postier addresses import FILE [--dry-run]\n\n"
     "Columns: party_ref,label,lines,postcode,city,country,contact_name,contact_email,\n"
     "contact_phone.  A row for an existing party ref and label updates that site.\n"},
    {NULL, NULL, NULL, NULL},
};

int cmd_addresses(struct cli *c, int argc, char **argv)
{
    return cli_dispatch(c, "addresses", subs, argc, argv);
}
