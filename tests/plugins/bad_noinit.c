/* A shared object without the plugin symbols. */
int clg_test_not_a_plugin(void);
int clg_test_not_a_plugin(void) { return 1; }
