/* Claims a future component ABI major: the loader must refuse it before init. */
#include <clgrad/plugin.h>

CLG_PLUGIN_EXPORT const uint32_t clg_plugin_abi[2] = { CLG_PLUGIN_ABI_MAJOR + 1, 0 };
CLG_PLUGIN_EXPORT clg_status clg_plugin_init(clg_registry *reg, const clg_plugin_host *host);
CLG_PLUGIN_EXPORT clg_status clg_plugin_init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)reg;
    (void)host;
    return CLG_OK;
}
