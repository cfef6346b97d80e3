{#- Fails with the rows whose combination of `columns` appears more than once (a compound key of a seed).
    Written here because dbt packages (dbt_utils) cannot be installed offline. -#}
{% test ref_unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
