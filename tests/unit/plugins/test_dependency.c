/* test_dependency.c: a tiny shared library that the needs-lib test plugin
 * links against; the registry test hides it to provoke a load failure. */
int test_dependency_answer(void);

int test_dependency_answer(void)
{
    return 42;
}
