/* The trial-read queries both backends run, in one place. A backend defines
 * HP_SQL_P1 .. HP_SQL_P4, its spelling of the bound parameters (SQLite
 * "?1", PostgreSQL "$1"), then includes this file. Filters: BY_STUDY
 * (P1 = study_id, P2 = the smallest trial number read) or BY_TRIAL (P1 =
 * trial_id). "key" is quoted: a keyword in SQLite, an ordinary name that the
 * quotes leave as it is in PostgreSQL. */
#ifndef HP_STORE_UTIL_SQL_H
#define HP_STORE_UTIL_SQL_H

#define BY_STUDY "t.study_id = " HP_SQL_P1 " AND t.number >= " HP_SQL_P2
#define BY_TRIAL "t.trial_id = " HP_SQL_P1
#define READ_TRIALS(W)                                                               \
  "SELECT t.trial_id, t.study_id, t.number, t.state, t.datetime_start, "             \
  "t.datetime_complete FROM trials t WHERE " W " ORDER BY t.number, t.trial_id"
#define READ_PARAMS(W)                                                               \
  "SELECT p.trial_id, p.param_name, p.param_value, p.distribution_json "             \
  "FROM trials t JOIN trial_params p ON p.trial_id = t.trial_id WHERE " W           \
  " ORDER BY p.param_id"
#define READ_VALUES(W)                                                               \
  "SELECT v.trial_id, v.objective, v.value, v.value_type "                           \
  "FROM trials t JOIN trial_values v ON v.trial_id = t.trial_id WHERE " W           \
  " ORDER BY v.trial_id, v.objective"
#define READ_INTER(W)                                                                \
  "SELECT i.trial_id, i.step, i.intermediate_value, i.intermediate_value_type "      \
  "FROM trials t JOIN trial_intermediate_values i ON i.trial_id = t.trial_id WHERE " W \
  " ORDER BY i.trial_id, i.step"
#define READ_ATTR(TABLE, W)                                                          \
  "SELECT a.trial_id, a.\"key\", a.value_json FROM trials t JOIN " TABLE "s"        \
  " a ON a.trial_id = t.trial_id WHERE " W " ORDER BY a.trial_id, a." TABLE "_id"

/* The child tables of the trials in a trial_id range (P1 = first id, P2 =
 * last), read from each table alone through its (trial_id, ...) index: the
 * trials were read first (READ_TRIALS), so a range of ids stands for them and
 * rows of other studies' trials inside it are skipped by the reader. Only a
 * trial_id range is a range of one study's trials in number order: Optuna and
 * hpsearch number a study's trials in the order of their ids. */
#define IN_RANGE(A) A ".trial_id BETWEEN " HP_SQL_P1 " AND " HP_SQL_P2
#define READ_PARAMS_RANGE                                                            \
  "SELECT p.trial_id, p.param_name, p.param_value, p.distribution_json "             \
  "FROM trial_params p WHERE " IN_RANGE("p") " ORDER BY p.trial_id, p.param_id"
/* The same rows in param_id order, the table's own order, with no index
 * (the unary + keeps SQLite off it): for a range that holds most of the
 * table, one pass instead of an index walk plus a lookup per row. */
#define READ_PARAMS_SCAN                                                             \
  "SELECT p.trial_id, p.param_name, p.param_value, p.distribution_json "             \
  "FROM trial_params p WHERE +p.trial_id BETWEEN " HP_SQL_P1 " AND " HP_SQL_P2       \
  " ORDER BY p.param_id"
#define READ_VALUES_RANGE                                                            \
  "SELECT v.trial_id, v.objective, v.value, v.value_type FROM trial_values v "       \
  "WHERE " IN_RANGE("v") " ORDER BY v.trial_id, v.objective"
#define READ_INTER_RANGE                                                             \
  "SELECT i.trial_id, i.step, i.intermediate_value, i.intermediate_value_type "      \
  "FROM trial_intermediate_values i WHERE " IN_RANGE("i") " ORDER BY i.trial_id, i.step"
#define READ_ATTR_RANGE(TABLE)                                                       \
  "SELECT a.trial_id, a.\"key\", a.value_json FROM " TABLE "s a WHERE " IN_RANGE("a")  \
  " ORDER BY a.trial_id, a." TABLE "_id"
/* Only the keys P3 and P4 (a column-shaped read asks for two at most). */
#define READ_ATTR_KEYS(TABLE)                                                        \
  "SELECT a.trial_id, a.\"key\", a.value_json FROM " TABLE "s a WHERE " IN_RANGE("a")  \
  " AND a.\"key\" IN (" HP_SQL_P3 ", " HP_SQL_P4 ") ORDER BY a.trial_id, a." TABLE "_id"

#endif
