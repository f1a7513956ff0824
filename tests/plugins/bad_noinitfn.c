/* Has the ABI symbol but no clg_plugin_init. */
#include <clgrad/plugin.h>

CLG_PLUGIN_EXPORT const uint32_t clg_plugin_abi[2] = { CLG_PLUGIN_ABI_MAJOR, CLG_PLUGIN_ABI_MINOR };
