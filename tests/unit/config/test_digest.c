/* generation_digest: the configuration's contents name it, its paths do
 * not, and no two different sets of files give the same digest by
 * running together. */
#include "harness.h"

#include <ctype.h>

#include "config/generation.h"

static source_file file(const char *name, const char *path, const char *text)
{
    return (source_file){.name = (char *)name, .path = (char *)path, .text = (char *)text,
                         .len = strlen(text)};
}

/* A generation of the files under `dir`, with one template. */
static generation files_in(const char *dir, const char *config, const char *route,
                           const char *template_name, source_file *template)
{
    generation g = {0};
    g.config_text = file("config", dir, config);
    g.route = file("route", dir, route);
    *template = file(template_name, dir, "{{ title }}");
    g.templates = template;
    g.templates_len = 1;
    return g;
}

static void digest_of(const char *dir, const char *config, const char *route,
                      const char *template_name, char out[CONFIG_DIGEST_SIZE])
{
    source_file template;
    generation g = files_in(dir, config, route, template_name, &template);
    generation_digest(&g, out);
}

TEST(same_contents_in_another_folder_have_the_same_digest)
{
    char here[CONFIG_DIGEST_SIZE], there[CONFIG_DIGEST_SIZE];
    digest_of("/etc/herald", "listen = '127.0.0.1:9095'", "return {}", "ding", here);
    digest_of("/srv/replica-2/herald", "listen = '127.0.0.1:9095'", "return {}", "ding", there);
    CHECK_STR(here, there);
    CHECK_INT(strlen(here), CONFIG_DIGEST_SIZE - 1);
    for (size_t i = 0; here[i]; i++)
        CHECK(isxdigit((unsigned char)here[i]) && !isupper((unsigned char)here[i]));
}

TEST(any_file_changed_changes_the_digest)
{
    char base[CONFIG_DIGEST_SIZE], other[CONFIG_DIGEST_SIZE];
    digest_of("/etc/herald", "listen = '127.0.0.1:9095'", "return {}", "ding", base);
    digest_of("/etc/herald", "listen = '127.0.0.1:9096'", "return {}", "ding", other);
    CHECK(strcmp(base, other) != 0);
    digest_of("/etc/herald", "listen = '127.0.0.1:9095'", "return { }", "ding", other);
    CHECK(strcmp(base, other) != 0);
    digest_of("/etc/herald", "listen = '127.0.0.1:9095'", "return {}", "wecom", other);
    CHECK(strcmp(base, other) != 0);

    source_file template;
    generation g = files_in("/etc/herald", "listen = '127.0.0.1:9095'", "return {}", "ding",
                            &template);
    template.text = (char *)"{{ title }}!";
    template.len = strlen(template.text);
    generation_digest(&g, other);
    CHECK(strcmp(base, other) != 0);
    g.templates_len = 0;
    generation_digest(&g, other);
    CHECK(strcmp(base, other) != 0);
}

/* "ab" + "c" and "a" + "bc" are the same bytes run together. */
TEST(text_moved_from_one_file_to_the_next_changes_the_digest)
{
    char one[CONFIG_DIGEST_SIZE], two[CONFIG_DIGEST_SIZE];
    digest_of("/etc/herald", "x = 1\n", "return {}", "ding", one);
    digest_of("/etc/herald", "x = 1", "\nreturn {}", "ding", two);
    CHECK(strcmp(one, two) != 0);
}

RUN_TESTS(CASE(same_contents_in_another_folder_have_the_same_digest),
          CASE(any_file_changed_changes_the_digest),
          CASE(text_moved_from_one_file_to_the_next_changes_the_digest))
