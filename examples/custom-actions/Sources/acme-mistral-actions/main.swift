import AcmeActions
import ActionCatalog
import MistralActionsCLI

// Every mistral-actions command (worker, register, discover, action-list,
// doctor, ...) over the standard actions and Acme's.
await MistralActionsCommand.main(catalogs: [ActionCatalog.standard, AcmeActions.catalog])
