/* t_script.c: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT. (Being written; the table is filled as commands land.) */
#include "core/command.h"

const rk_command rk_script_commands[] = {{0}};
