/*
 * ctl.h - `sluice ctl`, the admin API's command-line client (ctl.c). Runs in
 * the sluice binary before anything of the broker starts; one thread.
 */
#ifndef SLUICE_CTL_H
#define SLUICE_CTL_H

#include <stdbool.h>

/* argv: what follows "ctl". Returns the process exit code. */
int brk_ctl_main(int argc, char **argv);

#endif
