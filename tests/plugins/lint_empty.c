/* Loads fine and registers nothing (an init that forgot clg_register). */
#include <clgrad/plugin.h>

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)reg, (void)host;
    return CLG_OK;
}
CLG_PLUGIN_DEFINE(init)
