/* t_geo.c: the GEO commands. (Being written; the table is filled as commands land.) */
#include "core/command.h"

const rk_command rk_geo_commands[] = {{0}};
