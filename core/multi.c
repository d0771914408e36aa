/* multi.c: MULTI/EXEC/WATCH (being written). */
#include "core/command.h"

const rk_command rk_multi_commands[] = {{0}};
