/* A library the TLS test dlopen()s after its threads exist: its __thread variable lives in
   dynamic TLS (global-dynamic model), reached through each thread's DTV. */
__thread int module_counter = 7;
__thread char module_buffer[4096];

int* module_counter_address(void) { return &module_counter; }
int module_bump(void) {
  module_buffer[module_counter % 4096] = 1;
  return ++module_counter;
}
