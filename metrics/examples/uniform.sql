{#- A uniform random number in [0, 1) from SQLite's 64-bit random(); never overflows. -#}
{%- macro uniform() -%}((random() % 1000000 + 1000000) % 1000000 / 1000000.0){%- endmacro -%}
