/* t_list.c: the list type and its commands (being written). */
#include "core/command.h"

const rk_command rk_list_commands[] = {{0}};
