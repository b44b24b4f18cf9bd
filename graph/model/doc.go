// Package model holds the Go types of the GraphQL schema: the ones gqlgen
// generates (models_gen.go), the hand-written node types the resolvers fill
// from the register's aggregates, and the custom scalars Time, Date and JSON.
package model
