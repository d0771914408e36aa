/* t_hll.c: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST. (Being written; the table is filled as commands land.) */
#include "core/command.h"

const rk_command rk_hll_commands[] = {{0}};
