/* t_function.c: FUNCTION, FCALL, FCALL_RO. (Being written; the table is filled as commands land.) */
#include "core/command.h"

const rk_command rk_function_commands[] = {{0}};
