/* postier: mail-merge and notification dispatch engine.  main() only hands
 * over to the command line dispatcher. */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
