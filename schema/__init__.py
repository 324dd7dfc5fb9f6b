"""The GraphQL surface: types, root fields and the glue to resolvers. No business logic here."""
